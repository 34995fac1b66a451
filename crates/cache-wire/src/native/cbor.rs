//! The subset of CBOR (RFC 8949) the native protocol uses, written and read by hand so that
//! arguments are sliced out of the input without a copy.
//!
//! Definite lengths only; integers up to 64 bits; byte and text strings; arrays and maps; the
//! simple values false, true and null; 64-bit floats (any float width is read); tags.

use bytes::{BufMut, Bytes, BytesMut};

pub const UNSIGNED: u8 = 0;
pub const NEGATIVE: u8 = 1;
pub const BYTES: u8 = 2;
pub const TEXT: u8 = 3;
pub const ARRAY: u8 = 4;
pub const MAP: u8 = 5;
pub const TAG: u8 = 6;
pub const SIMPLE: u8 = 7;

pub const FALSE: u8 = 0xf4;
pub const TRUE: u8 = 0xf5;
pub const NULL: u8 = 0xf6;
pub const FLOAT16: u8 = 0xf9;
pub const FLOAT32: u8 = 0xfa;
pub const FLOAT64: u8 = 0xfb;

/// Writes a head: major type and argument, in the shortest form (canonical CBOR).
pub fn head(major: u8, value: u64, out: &mut BytesMut) {
    let major = major << 5;
    if value < 24 {
        out.put_u8(major | value as u8);
    } else if value <= u64::from(u8::MAX) {
        out.put_u8(major | 24);
        out.put_u8(value as u8);
    } else if value <= u64::from(u16::MAX) {
        out.put_u8(major | 25);
        out.put_u16(value as u16);
    } else if value <= u64::from(u32::MAX) {
        out.put_u8(major | 26);
        out.put_u32(value as u32);
    } else {
        out.put_u8(major | 27);
        out.put_u64(value);
    }
}

pub fn integer(value: i64, out: &mut BytesMut) {
    if value >= 0 {
        head(UNSIGNED, value as u64, out);
    } else {
        // -1 - n encodes n; for i64::MIN, n = i64::MAX.
        head(NEGATIVE, (-1 - value) as u64, out);
    }
}

pub fn bytes(value: &[u8], out: &mut BytesMut) {
    head(BYTES, value.len() as u64, out);
    out.put_slice(value);
}

pub fn text(value: &str, out: &mut BytesMut) {
    head(TEXT, value.len() as u64, out);
    out.put_slice(value.as_bytes());
}

pub fn float(value: f64, out: &mut BytesMut) {
    out.put_u8(FLOAT64);
    out.put_f64(value);
}

/// Why a CBOR body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// One item's head as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Head {
    Unsigned(u64),
    Negative(u64),
    Bytes(usize),
    Text(usize),
    Array(usize),
    Map(usize),
    Tag(u64),
    False,
    True,
    Null,
    Float(f64),
}

/// A cursor over a complete CBOR body held in `Bytes`, so strings come out as cheap slices.
#[derive(Debug)]
pub struct Reader {
    body: Bytes,
    at: usize,
}

impl Reader {
    pub fn new(body: Bytes) -> Reader {
        Reader { body, at: 0 }
    }

    pub fn is_done(&self) -> bool {
        self.at == self.body.len()
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.body.len())
            .ok_or(Malformed("truncated CBOR item"))?;
        let slice = &self.body[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn argument(&mut self, info: u8) -> Result<u64, Malformed> {
        Ok(match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(
                self.take(2)?.try_into().unwrap_or_default(),
            )),
            26 => u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().unwrap_or_default(),
            )),
            27 => u64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default()),
            31 => return Err(Malformed("indefinite lengths are not supported")),
            _ => return Err(Malformed("reserved CBOR additional information")),
        })
    }

    /// A length that must fit what is left of the body (each element takes at least a byte),
    /// so a hostile header cannot make the reader reserve memory it was never sent.
    fn length(&mut self, info: u8) -> Result<usize, Malformed> {
        let n = self.argument(info)?;
        let left = (self.body.len() - self.at) as u64;
        if n > left {
            return Err(Malformed("CBOR length runs past the end of the frame"));
        }
        Ok(n as usize)
    }

    pub fn head(&mut self) -> Result<Head, Malformed> {
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        Ok(match major {
            UNSIGNED => Head::Unsigned(self.argument(info)?),
            NEGATIVE => Head::Negative(self.argument(info)?),
            BYTES => Head::Bytes(self.length(info)?),
            TEXT => Head::Text(self.length(info)?),
            ARRAY => Head::Array(self.length(info)?),
            MAP => Head::Map(self.length(info)?),
            TAG => Head::Tag(self.argument(info)?),
            _ => match initial {
                FALSE => Head::False,
                TRUE => Head::True,
                NULL => Head::Null,
                FLOAT16 => {
                    let raw = u16::from_be_bytes(self.take(2)?.try_into().unwrap_or_default());
                    Head::Float(half_to_f64(raw))
                }
                FLOAT32 => Head::Float(f64::from(f32::from_be_bytes(
                    self.take(4)?.try_into().unwrap_or_default(),
                ))),
                FLOAT64 => Head::Float(f64::from_be_bytes(
                    self.take(8)?.try_into().unwrap_or_default(),
                )),
                _ => return Err(Malformed("unsupported CBOR simple value")),
            },
        })
    }

    /// The next `n` bytes as a slice of the body (no copy).
    pub fn slice(&mut self, n: usize) -> Result<Bytes, Malformed> {
        let start = self.at;
        self.take(n)?;
        Ok(self.body.slice(start..start + n))
    }

    pub fn unsigned(&mut self, what: &'static str) -> Result<u64, Malformed> {
        match self.head()? {
            Head::Unsigned(n) => Ok(n),
            _ => Err(Malformed(what)),
        }
    }

    pub fn array(&mut self, what: &'static str) -> Result<usize, Malformed> {
        match self.head()? {
            Head::Array(n) => Ok(n),
            _ => Err(Malformed(what)),
        }
    }

    /// A byte or text string, as bytes.
    pub fn string(&mut self, what: &'static str) -> Result<Bytes, Malformed> {
        match self.head()? {
            Head::Bytes(n) | Head::Text(n) => self.slice(n),
            _ => Err(Malformed(what)),
        }
    }
}

/// IEEE 754 half precision to double.
fn half_to_f64(raw: u16) -> f64 {
    let sign = if raw & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((raw >> 10) & 0x1f);
    let mantissa = f64::from(raw & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mantissa / 1024.0) * 2f64.powi(e - 15),
    }
}
