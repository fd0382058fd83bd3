// data/stb_impl.cpp: the one translation unit that compiles the stb_image (decode) and
// stb_image_write (PNG encode) implementations (public-domain single-header libraries).
// Built with warnings off: it is third-party code.
#define STB_IMAGE_IMPLEMENTATION
// Only the formats loradiff documents (image folders take .png .jpg .jpeg .bmp): stb_image's GIF,
// PSD, TGA, HDR, PIC and PNM decoders are left out, and with them their share of known bugs.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_FAILURE_USERMSG
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
