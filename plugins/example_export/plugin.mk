# the libraries it links, if any: example_export_LIBS := -lcurl
example_export_LIBS :=
