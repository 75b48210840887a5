/*
 * test_lease_lock.c - suite `lease_lock`: the named locks an SQLite store
 * holds for its syncs and exports (hub/lease_lock.c): one holder a name,
 * freed when dropped, one file a name whatever bytes it holds, and the
 * errors that say which file.  Two sets on one directory stand for two
 * processes: flock(2) excludes two descriptors of one process too.
 */
#include "testlib.h"

#include "../../hub/lease_lock.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int path_exists(const char *dir, const char *name, mode_t *mode)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    stat(path, &st))
		return 0;
	if (mode)
		*mode = st.st_mode & 07777;
	return 1;
}

static void test_lease_lock_one_holder_a_name_until_dropped(void)
{
	char *dir = testlib_mkdtemp();
	char path[PATH_MAX], err[256] = "";
	struct lease_locks a, b;

	snprintf(path, sizeof(path), "%s/locks", dir);
	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&a, path), 0);
	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&b, path), 0);
	CU_ASSERT_EQUAL(lease_locks_take(&a, "sync:crm", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(a.n_held, 1);
	CU_ASSERT_STRING_EQUAL(a.held[0].name, "sync:crm");
	CU_ASSERT(a.held[0].fd >= 0);
	CU_ASSERT_EQUAL(lease_locks_take(&b, "sync:crm", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(b.n_held, 0);
	CU_ASSERT_EQUAL(lease_locks_take(&b, "sync:web", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_find(&b, "sync:web"), 0);
	CU_ASSERT_EQUAL(lease_locks_find(&b, "sync:crm"), -1);

	lease_locks_drop(&a, 0);
	CU_ASSERT_EQUAL(a.n_held, 0);
	CU_ASSERT_EQUAL(lease_locks_take(&b, "sync:crm", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_find(&b, "sync:crm"), 1);
	CU_ASSERT_EQUAL(lease_locks_take(&a, "sync:crm", err, sizeof(err)), 0);

	lease_locks_free(&b); /* releases both */
	CU_ASSERT_EQUAL(lease_locks_take(&a, "sync:crm", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_take(&a, "sync:web", err, sizeof(err)), 1);
	CU_ASSERT_STRING_EQUAL(err, "");
	lease_locks_free(&a);
	testlib_rmtree(dir);
	free(dir);
}

/* Dropping a lock moves the last one held into its place. */
static void test_lease_lock_drop_keeps_the_others(void)
{
	char *dir = testlib_mkdtemp();
	char err[256], name[16];
	struct lease_locks a, b;

	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&a, dir), 0);
	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&b, dir), 0);
	for (int i = 0; i < 10; i++) { /* past the first 8 slots */
		snprintf(name, sizeof(name), "n%d", i);
		CU_ASSERT_EQUAL(lease_locks_take(&a, name, err, sizeof(err)), 1);
	}
	lease_locks_drop(&a, 2);
	CU_ASSERT_EQUAL(a.n_held, 9);
	CU_ASSERT_STRING_EQUAL(a.held[2].name, "n9");
	CU_ASSERT_EQUAL(lease_locks_take(&b, "n2", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_take(&b, "n9", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(lease_locks_take(&b, "n0", err, sizeof(err)), 0);
	lease_locks_free(&a);
	lease_locks_free(&b);
	testlib_rmtree(dir);
	free(dir);
}

/* Any byte but a-z, 0-9, _ and - is written %xx, so two names never share
 * a file (and none climbs out of the directory); the directory is made
 * 0750 and the files 0640. */
static void test_lease_lock_names_escape_to_one_file_each(void)
{
	char *dir = testlib_mkdtemp();
	char path[PATH_MAX], err[256];
	struct lease_locks a;
	mode_t mode = 0, umask_was = umask(022); /* the modes as made, not as cut */

	snprintf(path, sizeof(path), "%s/locks", dir);
	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&a, path), 0);
	CU_ASSERT_EQUAL(lease_locks_take(&a, "export:crm", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_take(&a, "export%3acrm", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_take(&a, "../Up_z-9", err, sizeof(err)), 1);
	CU_ASSERT(path_exists(dir, "locks", &mode));
	CU_ASSERT_EQUAL(mode, 0750);
	CU_ASSERT(path_exists(path, "export%3acrm", &mode));
	CU_ASSERT_EQUAL(mode, 0640);
	CU_ASSERT(path_exists(path, "export%253acrm", NULL));
	CU_ASSERT(path_exists(path, "%2e%2e%2f%55p_z-9", NULL));
	umask(umask_was);
	lease_locks_free(&a);
	testlib_rmtree(dir);
	free(dir);
}

/* A name of NAME_MAX bytes once escaped is a file; one byte more is an
 * error that says so, and nothing is held. */
static void test_lease_lock_name_too_long_for_a_file(void)
{
	char *dir = testlib_mkdtemp();
	char name[NAME_MAX + 2], err[256] = "";
	struct lease_locks a;

	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&a, dir), 0);
	memset(name, 'a', NAME_MAX);
	name[NAME_MAX] = '\0';
	CU_ASSERT_EQUAL(lease_locks_take(&a, name, err, sizeof(err)), 1);
	name[NAME_MAX] = 'a';
	name[NAME_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(lease_locks_take(&a, name, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "its lock file's name is too long");
	name[NAME_MAX - 2] = ':'; /* NAME_MAX - 2 + 3 + 1: one too many again */
	name[NAME_MAX - 1] = '\0';
	CU_ASSERT_EQUAL(lease_locks_take(&a, name, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(a.n_held, 1);
	lease_locks_free(&a);
	testlib_rmtree(dir);
	free(dir);
}

/* A directory that cannot be made is an error naming it. */
static void test_lease_lock_directory_that_cannot_be_made(void)
{
	char *dir = testlib_mkdtemp();
	char *file = testlib_write_file(dir, "plain", "x");
	char path[PATH_MAX], err[256] = "";
	struct lease_locks a;

	snprintf(path, sizeof(path), "%s/locks", file);
	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&a, path), 0);
	CU_ASSERT_EQUAL(lease_locks_take(&a, "n", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot make "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_EQUAL(a.n_held, 0);
	lease_locks_free(&a);
	free(file);
	testlib_rmtree(dir);
	free(dir);
}

/* Without a directory (a store in memory) every take succeeds. */
static void test_lease_lock_without_a_directory_every_take_succeeds(void)
{
	char err[256];
	struct lease_locks a, b;

	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&a, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&b, NULL), 0);
	CU_ASSERT_EQUAL(lease_locks_take(&a, "x", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_take(&b, "x", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(a.held[0].fd, -1);
	lease_locks_free(&a);
	lease_locks_free(&b);
}

TEST_SUITE(lease_lock, NULL, NULL, TEST(test_lease_lock_one_holder_a_name_until_dropped),
	   TEST(test_lease_lock_drop_keeps_the_others),
	   TEST(test_lease_lock_names_escape_to_one_file_each),
	   TEST(test_lease_lock_name_too_long_for_a_file),
	   TEST(test_lease_lock_directory_that_cannot_be_made),
	   TEST(test_lease_lock_without_a_directory_every_take_succeeds))
