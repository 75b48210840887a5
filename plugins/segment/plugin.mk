segment_LIBS := -ljansson -lcrypto
