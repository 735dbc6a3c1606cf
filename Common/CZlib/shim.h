// zlib's deflateInit2/inflateInit2 are macros; these wrappers make them callable from Swift.
#ifndef VIGIL_CZLIB_SHIM_H
#define VIGIL_CZLIB_SHIM_H
#include <zlib.h>
static inline int vigil_deflate_init_gzip(z_stream *strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
static inline int vigil_inflate_init_gzip(z_stream *strm) {
    return inflateInit2(strm, 15 + 32);
}
#endif
