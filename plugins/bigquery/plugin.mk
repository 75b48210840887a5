bigquery_LIBS := -ljansson -lcurl -lcrypto
bigquery_SRC_EXTRA := plugins/common/rowmap.c plugins/common/rm_value.c \
	plugins/common/rm_cursor.c plugins/common/rowpull.c plugins/common/rowmap.h \
	plugins/common/rowmap_int.h plugins/common/rowpull.h plugins/common/key_file.h \
	plugins/common/transient.h \
	plugins/bigquery/bq.h plugins/bigquery/bq_query_int.h
