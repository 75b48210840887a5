/* realloc_fail_once.c - an LD_PRELOAD shim for cli_basics.sh: after
 * shim_realloc_fail_next() (which tests/plugins/reject_lines finds with
 * dlsym), the calling thread's next realloc() fails, as when memory runs
 * out there; every other realloc() is the next one's (glibc's, or the
 * sanitizer's in a SAN=1 build).  Built by the test itself (cc -shared
 * -fPIC ... -ldl). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

void shim_realloc_fail_next(void);
void *realloc(void *p, size_t size);

static _Thread_local int is_failing;

void shim_realloc_fail_next(void)
{
	is_failing = 1;
}

void *realloc(void *p, size_t size)
{
	static void *(*next)(void *, size_t);

	if (is_failing) {
		is_failing = 0;
		return NULL;
	}
	if (!next)
		*(void **)&next = dlsym(RTLD_NEXT, "realloc");
	return next(p, size);
}
