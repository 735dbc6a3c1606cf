// libpq through a system-library target (pkg-config `libpq`, Debian libpq-dev). See ../VigilStore/PostgresStore.swift.
#include <libpq-fe.h>
