# -z nodelete: unixODBC keeps process-wide caches (odbcinst.ini, drivers);
# unloading it with the plugin would drop them mid-process.
snowflake_LIBS := -ljansson -lodbc -lcurl -lcrypto -lpthread -Wl,-z,nodelete
snowflake_SRC_EXTRA := plugins/common/rowmap.c plugins/common/rm_value.c \
	plugins/common/rm_cursor.c plugins/common/rowpull.c plugins/common/rowmap.h \
	plugins/common/rowmap_int.h plugins/common/rowpull.h plugins/common/key_file.h \
	plugins/common/transient.h \
	plugins/snowflake/sf.h plugins/snowflake/sf_odbc_int.h \
	plugins/snowflake/sf_sqlapi_int.h
