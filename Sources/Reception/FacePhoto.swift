import COpenJPEG
import CPNG
import StableCodes

/// Why a card-face photo could not be turned into PNG (stable codes).
public enum FacePhotoError: Error, CodedError, Equatable, Sendable {
    /// Neither a JP2 file nor a J2K codestream.
    case notJPEG2000
    /// OpenJPEG refused the header or the data.
    case decodeFailed(String)
    /// A layout this converter does not handle (subsampled or more than 16-bit components …).
    case unsupported(String)
    /// Larger than ``FacePhoto/maxPixels``.
    case tooLarge
    /// libpng could not encode the pixels.
    case encodeFailed

    /// The stable code.
    public var code: String {
        switch self {
        case .notJPEG2000: "photo_not_jpeg2000"
        case .decodeFailed: "photo_decode_failed"
        case .unsupported: "photo_unsupported"
        case .tooLarge: "photo_too_large"
        case .encodeFailed: "photo_encode_failed"
        }
    }
}

/// The card-face photo (JPEG 2000, DF27) decoded with OpenJPEG and re-encoded as PNG with libpng,
/// because browsers do not show JPEG 2000. No codec is written here: both directions are the
/// system libraries (Debian libopenjp2-7, libpng16).
public enum FacePhoto {
    /// Images with more pixels are refused (a card photo is a few hundred pixels a side).
    public static let maxPixels = 4096 * 4096

    /// 8-bit pixels: `channels` 1 (grey) or 3 (RGB), row-major, no padding.
    public struct Pixels: Equatable, Sendable {
        /// Width in pixels.
        public var width: Int
        /// Height in pixels.
        public var height: Int
        /// 1 = grey, 3 = RGB.
        public var channels: Int
        /// `width * height * channels` bytes.
        public var bytes: [UInt8]
    }

    /// JPEG 2000 (JP2 box file or raw J2K codestream) → PNG.
    public static func png(fromJPEG2000 data: [UInt8]) throws(FacePhotoError) -> [UInt8] {
        try encodePNG(try decode(data))
    }

    /// Decodes JPEG 2000 to 8-bit grey or RGB pixels with OpenJPEG.
    public static func decode(_ data: [UInt8]) throws(FacePhotoError) -> Pixels {
        let format: OPJ_CODEC_FORMAT
        if data.starts(with: [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) {
            format = OPJ_CODEC_JP2
        } else if data.starts(with: [0xFF, 0x4F, 0xFF, 0x51]) {
            format = OPJ_CODEC_J2K
        } else {
            throw .notJPEG2000
        }
        let source = MemorySource(data)
        let box = Unmanaged.passRetained(source)
        guard let stream = opj_stream_create(OPJ_SIZE_T(OPJ_J2K_STREAM_CHUNK_SIZE), 1) else {
            box.release()
            throw .decodeFailed("stream")
        }
        defer { opj_stream_destroy(stream) }
        // The stream owns one retain of the source and releases it through the free function.
        opj_stream_set_user_data(stream, box.toOpaque()) { p in
            if let p { Unmanaged<MemorySource>.fromOpaque(p).release() }
        }
        opj_stream_set_user_data_length(stream, OPJ_UINT64(data.count))
        opj_stream_set_read_function(stream) { buffer, n, user in
            guard let buffer, let user else { return endOfStream }
            return Unmanaged<MemorySource>.fromOpaque(user).takeUnretainedValue().read(into: buffer, count: Int(n))
        }
        opj_stream_set_skip_function(stream) { n, user in
            guard let user else { return -1 }
            return Unmanaged<MemorySource>.fromOpaque(user).takeUnretainedValue().skip(Int64(n))
        }
        opj_stream_set_seek_function(stream) { n, user in
            guard let user else { return 0 }
            return Unmanaged<MemorySource>.fromOpaque(user).takeUnretainedValue().seek(Int64(n)) ? 1 : 0
        }
        guard let codec = opj_create_decompress(format) else { throw .decodeFailed("codec") }
        defer { opj_destroy_codec(codec) }
        var parameters = opj_dparameters_t()
        opj_set_default_decoder_parameters(&parameters)
        guard opj_setup_decoder(codec, &parameters) != 0 else { throw .decodeFailed("setup") }
        var imagePointer: UnsafeMutablePointer<opj_image_t>?
        guard opj_read_header(stream, codec, &imagePointer) != 0, let image = imagePointer else {
            if let imagePointer { opj_image_destroy(imagePointer) }
            throw .decodeFailed("header")
        }
        defer { opj_image_destroy(image) }
        // Refuse huge images before any pixel is decoded.
        let headerWidth = Int(image.pointee.x1) - Int(image.pointee.x0)
        let headerHeight = Int(image.pointee.y1) - Int(image.pointee.y0)
        guard headerWidth > 0, headerHeight > 0 else { throw .decodeFailed("empty image") }
        guard headerWidth * headerHeight <= maxPixels else { throw .tooLarge }
        guard opj_decode(codec, stream, image) != 0, opj_end_decompress(codec, stream) != 0 else {
            throw .decodeFailed("data")
        }
        return try pixels(image.pointee)
    }

    static func pixels(_ image: opj_image_t) throws(FacePhotoError) -> Pixels {
        let count = Int(image.numcomps)
        guard count >= 1, let comps = image.comps else { throw .unsupported("no components") }
        // Grey (+ alpha) or RGB (+ alpha): alpha is dropped, the photo has none.
        let channels = count >= 3 ? 3 : 1
        let first = comps[0]
        let width = Int(first.w)
        let height = Int(first.h)
        guard width > 0, height > 0, width * height <= maxPixels else { throw .tooLarge }
        var out = [UInt8](repeating: 0, count: width * height * channels)
        for c in 0..<channels {
            let comp = comps[c]
            guard Int(comp.w) == width, Int(comp.h) == height, comp.dx == 1, comp.dy == 1 else {
                throw .unsupported("subsampled components")
            }
            guard comp.prec >= 1, comp.prec <= 16, let data = comp.data else {
                throw .unsupported("component precision \(comp.prec)")
            }
            let precision = Int(comp.prec)
            let offset = comp.sgnd != 0 ? 1 << (precision - 1) : 0
            let maxValue = (1 << precision) - 1
            for i in 0..<(width * height) {
                let v = min(max(Int(data[i]) + offset, 0), maxValue)
                out[i * channels + c] = UInt8(precision == 8 ? v : (v * 255 + maxValue / 2) / maxValue)
            }
        }
        return Pixels(width: width, height: height, channels: channels, bytes: out)
    }

    /// Encodes 8-bit grey or RGB pixels as PNG with libpng's simplified API.
    public static func encodePNG(_ p: Pixels) throws(FacePhotoError) -> [UInt8] {
        guard p.channels == 1 || p.channels == 3, p.bytes.count == p.width * p.height * p.channels else {
            throw .encodeFailed
        }
        var image = png_image()
        image.version = cpng_image_version()
        image.width = png_uint_32(p.width)
        image.height = png_uint_32(p.height)
        image.format = p.channels == 3 ? cpng_format_rgb() : cpng_format_gray()
        var size: png_alloc_size_t = 0
        let ok = p.bytes.withUnsafeBytes { raw in
            png_image_write_to_memory(&image, nil, &size, 0, raw.baseAddress, 0, nil)
        }
        guard ok != 0, size > 0 else {
            png_image_free(&image)
            throw .encodeFailed
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let written = out.withUnsafeMutableBytes { o in
            p.bytes.withUnsafeBytes { raw in
                png_image_write_to_memory(&image, o.baseAddress, &size, 0, raw.baseAddress, 0, nil)
            }
        }
        png_image_free(&image)
        guard written != 0 else { throw .encodeFailed }
        return Array(out.prefix(Int(size)))
    }
}

/// `(OPJ_SIZE_T)-1`, the read callback's "end of stream" (Swift imports size_t as Int).
private let endOfStream = OPJ_SIZE_T(bitPattern: UInt.max)

/// The bytes OpenJPEG reads through its stream callbacks.
private final class MemorySource {
    let data: [UInt8]
    var offset = 0

    init(_ data: [UInt8]) { self.data = data }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) -> OPJ_SIZE_T {
        let n = min(count, data.count - offset)
        guard n > 0 else { return endOfStream }
        data.withUnsafeBytes { src in
            buffer.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return OPJ_SIZE_T(n)
    }

    func skip(_ n: Int64) -> OPJ_OFF_T {
        let target = min(max(Int64(offset) + n, 0), Int64(data.count))
        let moved = target - Int64(offset)
        offset = Int(target)
        return OPJ_OFF_T(moved)
    }

    func seek(_ position: Int64) -> Bool {
        guard position >= 0, position <= Int64(data.count) else { return false }
        offset = Int(position)
        return true
    }
}
