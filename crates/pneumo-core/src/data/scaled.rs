//! How `preprocess` (and `predict` after it) turns a file into grey pixels before resizing:
//! a full decode (the default, Pillow's pixels), or libjpeg-turbo's DCT-domain scaling,
//! which decodes a JPEG at 1/2, 1/4 or 1/8 of its size when that still covers the output
//! side, as Pillow's `Image.draft("L", (side, side))` does. On multi-megapixel films the
//! full decode is most of preprocess's time; scaling skips most of the inverse DCT and
//! the colour work, but its pixels differ from the full decode's (mean about 0.6 grey
//! levels after resizing), so it is an option, never the default.
//!
//! TurboJPEG (`libturbojpeg.so.0`, Debian's `libturbojpeg0`) is loaded when first needed,
//! not linked: the build needs no C library, and a machine without it gets an error that
//! says how to install it. `PNEUMO_TURBOJPEG` names the library file to load instead.

use std::ffi::{CStr, CString, c_char, c_int, c_uchar, c_ulong, c_void};
use std::sync::OnceLock;

pub use pneumo_contract::preprocess::Decode;

use super::decode::{DecodeError, Gray, decode_gray};

/// Fails with how to install TurboJPEG when `decode` needs it and it cannot load.
pub fn ready(decode: Decode) -> Result<(), String> {
    match decode {
        Decode::Full => Ok(()),
        Decode::Scaled => api().map(|_| ()),
    }
}

/// Grey pixels of `bytes`, at least `side` on each side where the scaled decode applies;
/// `max_pixels` bounds the full size, as for [`decode_gray`].
pub fn gray(decode: Decode, bytes: &[u8], max_pixels: u64, side: u32) -> Result<Gray, DecodeError> {
    if decode == Decode::Scaled {
        super::decode::inspect(bytes, max_pixels)?;
        if bytes.starts_with(&[0xFF, 0xD8]) {
            let api = api().map_err(DecodeError::Corrupt)?;
            if let Some(gray) = api.decode_scaled(bytes, side, max_pixels)? {
                return Ok(gray);
            }
        }
    }
    decode_gray(bytes, max_pixels).map(|(_, gray)| gray)
}

/// Pillow's `draft` scale: the largest of 8, 4, 2, 1 that `min(w / side, h / side)` reaches.
pub fn draft_denominator(width: u32, height: u32, side: u32) -> u32 {
    let fits = (width / side.max(1)).min(height / side.max(1));
    [8, 4, 2, 1].into_iter().find(|d| fits >= *d).unwrap_or(1)
}

type Handle = *mut c_void;

type InitFn = unsafe extern "C" fn() -> Handle;
type HeaderFn = unsafe extern "C" fn(
    Handle,
    *const c_uchar,
    c_ulong,
    *mut c_int,
    *mut c_int,
    *mut c_int,
    *mut c_int,
) -> c_int;
type DecompressFn = unsafe extern "C" fn(
    Handle,
    *const c_uchar,
    c_ulong,
    *mut c_uchar,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
) -> c_int;
type DestroyFn = unsafe extern "C" fn(Handle) -> c_int;
type ErrorStrFn = unsafe extern "C" fn(Handle) -> *mut c_char;
type ErrorCodeFn = unsafe extern "C" fn(Handle) -> c_int;

/// The TurboJPEG 2.x functions used (kept by 3.x for compatibility).
struct Api {
    init: InitFn,
    header: HeaderFn,
    decompress: DecompressFn,
    destroy: DestroyFn,
    error_str: ErrorStrFn,
    error_code: ErrorCodeFn,
}

const TJPF_GRAY: c_int = 6;
const TJERR_FATAL: c_int = 1;
/// TurboJPEG gives no grey from these colour spaces (CMYK, YCCK).
const TJCS_CMYK: c_int = 3;
const TJCS_YCCK: c_int = 4;

/// Where the library is looked for when `PNEUMO_TURBOJPEG` is unset.
const NAMES: [&str; 3] = [
    "libturbojpeg.so.0",
    "libturbojpeg.so",
    "libturbojpeg.0.dylib",
];

fn api() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Api, String> {
    let named = std::env::var("PNEUMO_TURBOJPEG").ok();
    let candidates: Vec<String> = match &named {
        Some(path) => vec![path.clone()],
        None => NAMES.iter().map(|s| s.to_string()).collect(),
    };
    let lib = candidates
        .iter()
        .find_map(|name| {
            let c = CString::new(name.as_str()).ok()?;
            // SAFETY: dlopen with a NUL-terminated name; a null result is handled
            let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            (!h.is_null()).then_some(h)
        })
        .ok_or_else(|| {
            let tried = match &named {
                Some(p) => format!("PNEUMO_TURBOJPEG={p}"),
                None => NAMES.join(", "),
            };
            format!(
                "`decode: scaled` needs libjpeg-turbo's TurboJPEG library and none loads here \
                 (tried {tried}): install it (Debian/Ubuntu: apt-get install libturbojpeg0), set \
                 PNEUMO_TURBOJPEG to its file, or use `decode: full`"
            )
        })?;
    let sym = |name: &str| -> Result<*mut c_void, String> {
        let c = CString::new(name).expect("no NUL in a symbol name");
        // SAFETY: lib is a live handle from dlopen, never closed
        let f = unsafe { libc::dlsym(lib, c.as_ptr()) };
        if f.is_null() {
            Err(format!(
                "the TurboJPEG library found has no `{name}` (libjpeg-turbo 2.0 or newer is needed)"
            ))
        } else {
            Ok(f)
        }
    };
    // SAFETY: each symbol is TurboJPEG's function of that name, with the C signature the
    // field declares (turbojpeg.h, API 2.0, unchanged in 3.x)
    unsafe {
        Ok(Api {
            init: std::mem::transmute::<*mut c_void, InitFn>(sym("tjInitDecompress")?),
            header: std::mem::transmute::<*mut c_void, HeaderFn>(sym("tjDecompressHeader3")?),
            decompress: std::mem::transmute::<*mut c_void, DecompressFn>(sym("tjDecompress2")?),
            destroy: std::mem::transmute::<*mut c_void, DestroyFn>(sym("tjDestroy")?),
            error_str: std::mem::transmute::<*mut c_void, ErrorStrFn>(sym("tjGetErrorStr2")?),
            error_code: std::mem::transmute::<*mut c_void, ErrorCodeFn>(sym("tjGetErrorCode")?),
        })
    }
}

/// A decompressor, destroyed when dropped.
struct Decompressor<'a> {
    api: &'a Api,
    handle: Handle,
}

impl Drop for Decompressor<'_> {
    fn drop(&mut self) {
        // SAFETY: handle came from tjInitDecompress and is destroyed once
        unsafe { (self.api.destroy)(self.handle) };
    }
}

impl Decompressor<'_> {
    fn error(&self) -> String {
        // SAFETY: TurboJPEG returns a NUL-terminated string it owns, valid until the next call
        let msg = unsafe { CStr::from_ptr((self.api.error_str)(self.handle)) };
        msg.to_string_lossy().trim().to_string()
    }

    /// Whether the last failure was fatal (a warning still wrote every pixel).
    fn fatal(&self) -> bool {
        // SAFETY: a live handle
        unsafe { (self.api.error_code)(self.handle) == TJERR_FATAL }
    }
}

impl Api {
    /// The grey pixels at Pillow's draft scale; `None` for a colour space it cannot turn grey.
    fn decode_scaled(
        &self,
        bytes: &[u8],
        side: u32,
        max_pixels: u64,
    ) -> Result<Option<Gray>, DecodeError> {
        // SAFETY: no arguments; a null handle is handled
        let handle = unsafe { (self.init)() };
        if handle.is_null() {
            return Err(DecodeError::Corrupt(
                "TurboJPEG could not start a decompressor (out of memory?)".into(),
            ));
        }
        let d = Decompressor { api: self, handle };
        let len = bytes.len() as c_ulong;
        let (mut w, mut h, mut subsamp, mut colorspace) = (0, 0, 0, 0);
        // SAFETY: bytes outlives the call; the out-pointers are live locals
        let rc = unsafe {
            (self.header)(
                handle,
                bytes.as_ptr(),
                len,
                &mut w,
                &mut h,
                &mut subsamp,
                &mut colorspace,
            )
        };
        if rc != 0 || w <= 0 || h <= 0 {
            return Err(DecodeError::Corrupt(d.error()));
        }
        // the limit again on libjpeg's own reading of the header, which sizes the buffer
        if w as u64 * h as u64 > max_pixels {
            return Err(DecodeError::TooLarge {
                width: w as u32,
                height: h as u32,
                max_pixels,
            });
        }
        if colorspace == TJCS_CMYK || colorspace == TJCS_YCCK {
            return Ok(None);
        }
        let denom = draft_denominator(w as u32, h as u32, side) as c_int;
        let (sw, sh) = ((w + denom - 1) / denom, (h + denom - 1) / denom);
        let mut pixels = vec![0u8; sw as usize * sh as usize];
        // SAFETY: pixels holds sw * sh bytes, the pitch is sw and TurboJPEG writes sh rows
        // of sw grey pixels: (sw, sh) is the image scaled by 1/denom, one of its factors
        let rc = unsafe {
            (self.decompress)(
                handle,
                bytes.as_ptr(),
                len,
                pixels.as_mut_ptr(),
                sw,
                sw,
                sh,
                TJPF_GRAY,
                0,
            )
        };
        if rc != 0 && d.fatal() {
            return Err(DecodeError::Corrupt(d.error()));
        }
        Ok(Some(Gray {
            width: sw as u32,
            height: sh as u32,
            pixels,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pillows_draft_scale() {
        // Pillow 13: the 2772x2098 original drafts to 347x263 for 224, 1376x1048 to 344x262
        assert_eq!(draft_denominator(2772, 2098, 224), 8);
        assert_eq!(draft_denominator(1376, 1048, 224), 4);
        assert_eq!(draft_denominator(1024, 640, 224), 2);
        assert_eq!(draft_denominator(438, 168, 224), 1);
        assert_eq!(draft_denominator(300, 300, 0), 8);
    }

    #[test]
    fn full_is_the_default_and_stays_out_of_keys() {
        assert!(Decode::default().is_full());
        let d: Decode = serde_json::from_str("\"scaled\"").unwrap();
        assert_eq!(d, Decode::Scaled);
    }
}
