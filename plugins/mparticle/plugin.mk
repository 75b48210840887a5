mparticle_LIBS := -ljansson -lcrypto
