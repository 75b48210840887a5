postgres_LIBS := -lpq
