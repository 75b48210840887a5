webhook_LIBS := -lcurl -ljansson -lcrypto
