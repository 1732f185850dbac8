// OpenJPEG 2 (Debian libopenjp2-7-dev), found through pkg-config libopenjp2.
#include <openjpeg.h>
