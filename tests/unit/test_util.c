/*
 * test_util.c - suite `util`: the small string helpers of hub/util.c that
 * the store's hot paths use instead of snprintf.
 */
#include "testlib.h"

#include "../../hub/util.h"

#include <string.h>

static void test_str_copy_cuts_to_the_buffer_and_terminates(void)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	str_copy(buf, sizeof(buf), "p_ab");
	CU_ASSERT_STRING_EQUAL(buf, "p_ab");
	str_copy(buf, sizeof(buf), "0123456789");
	CU_ASSERT_STRING_EQUAL(buf, "0123456"); /* 7 bytes and the NUL */
	str_copy(buf, sizeof(buf), "");
	CU_ASSERT_STRING_EQUAL(buf, "");
	str_copy(buf, 1, "abc");
	CU_ASSERT_EQUAL(buf[0], '\0');
}

TEST_SUITE(util, NULL, NULL, TEST(test_str_copy_cuts_to_the_buffer_and_terminates))
