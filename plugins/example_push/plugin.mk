example_push_LIBS := -ljansson
