jsonl_LIBS := -ljansson
