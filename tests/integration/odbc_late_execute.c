/* odbc_late_execute.c - an LD_PRELOAD shim for snowflake_odbc.sh: the
 * first SQLExecute waits until the hub has sent a SQLCancel before it
 * reaches the driver, as a driver still connecting or preparing would;
 * that cancel found nothing executing.  It creates the file named by
 * $HUB_SHIM_MARK when it starts to wait.  Built by the test itself
 * (cc -shared -fPIC ... -ldl -lpthread). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <sql.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int n_cancels;
static int n_executes;

/* unixODBC's own: the plugin that links it is loaded RTLD_LOCAL, so
 * RTLD_NEXT does not see it */
static void *real_fn(const char *name)
{
	void *odbc = dlopen("libodbc.so.2", RTLD_LAZY | RTLD_NOLOAD);

	return odbc ? dlsym(odbc, name) : NULL;
}

SQLRETURN SQLCancel(SQLHSTMT stmt)
{
	SQLRETURN (*real)(SQLHSTMT) = (SQLRETURN(*)(SQLHSTMT))real_fn("SQLCancel");
	SQLRETURN r = real(stmt);

	pthread_mutex_lock(&lock);
	n_cancels++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return r;
}

SQLRETURN SQLExecute(SQLHSTMT stmt)
{
	SQLRETURN (*real)(SQLHSTMT) = (SQLRETURN(*)(SQLHSTMT))real_fn("SQLExecute");
	const char *mark = getenv("HUB_SHIM_MARK");
	int fd;

	pthread_mutex_lock(&lock);
	if (n_executes++ == 0) {
		if (mark && (fd = open(mark, O_WRONLY | O_CREAT, 0600)) >= 0)
			close(fd);
		while (n_cancels == 0)
			pthread_cond_wait(&cond, &lock);
	}
	pthread_mutex_unlock(&lock);
	return real(stmt);
}
