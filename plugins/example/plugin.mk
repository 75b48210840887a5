example_LIBS := -ljansson
