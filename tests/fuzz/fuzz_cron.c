/*
 * fuzz_cron.c - libFuzzer target for schedules: any bytes go through
 * cron_parse(); an accepted schedule must give, from several start times,
 * a next time strictly later that the schedule matches (cron), or exactly
 * one interval later.  A crash, a sanitizer report or a broken promise
 * (abort) is a finding.  Seeds: tests/fixtures/cron/.
 */
#include "cron.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t starts[] = {
		0, -1, 946684800000LL, 1772000000123LL, 4102444799999LL, -2208988800000LL,
	};
	struct cron c;
	char err[256], *text;

	if (size > 256)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cron_parse(text, &c, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
			int64_t next = cron_next_ms(&c, starts[i]);
			if (next <= starts[i])
				abort();
			if (c.is_interval ? next != starts[i] + c.interval_ms
					  : !cron_matches_ms(&c, next))
				abort();
		}
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
	free(text);
	return 0;
}
