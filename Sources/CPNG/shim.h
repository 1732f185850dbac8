// libpng 1.6 (Debian libpng-dev), found through pkg-config libpng; its simplified write API
// (png_image_write_to_memory) needs no setjmp error handling.
#include <png.h>

static inline unsigned int cpng_image_version(void) { return PNG_IMAGE_VERSION; }
static inline unsigned int cpng_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline unsigned int cpng_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline int cpng_image_failed(const png_image *image) { return PNG_IMAGE_FAILED(*image); }
