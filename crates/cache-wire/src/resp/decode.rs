//! Framing requests: bytes in, argument lists out, zero-copy.
//!
//! Decoding is two passes over a frame, as in mini-redis: a cheap check pass walks the headers
//! over `&[u8]`, skipping argument data by its declared length, until the frame is known to be
//! complete; then the frame is cut off the buffer once (`split_to(..).freeze()`) and every
//! argument is a `slice` of it, so argument bytes are never copied.
//!
//! The [`Decoder`] remembers how far the check pass got in the frame at the front of the buffer.
//! A large request that arrives in many reads is therefore examined once in total, not once per
//! read; a client trickling a million tiny arguments cannot make the server do quadratic work.
//!
//! Nothing is reserved for a length the peer only declared: a `$1000000000` header costs nothing
//! until the bytes arrive, and the connection's buffer grows only with what it has read.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use super::inline::split_args;
use crate::error::{ProtocolError, Result};
use crate::parse::parse_i64;

/// A request: the command name followed by its arguments, each a slice of the read buffer.
pub type Frame = Vec<Bytes>;

/// Bounds on what a peer may send, checked before anything is buffered for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk argument, in bytes (Redis's `proto-max-bulk-len`). Default 64 MiB + 64 KiB:
    /// the largest value the store accepts plus room for the command around it.
    pub max_bulk_len: usize,
    /// Most arguments in one multibulk request, command name included. Default 1024 × 1024.
    pub max_multibulk_len: usize,
    /// Longest inline request line, and longest `*`/`$` header line. Default 64 KiB, as Redis's
    /// `PROTO_INLINE_MAX_SIZE`.
    pub max_inline_len: usize,
    /// Largest request as a whole, in bytes: a bulk header announcing data past it is refused
    /// before the data is read. Default 1 GiB, as Redis's `client-query-buffer-limit`.
    pub max_request_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bulk_len: 64 * 1024 * 1024 + 64 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            max_request_len: 1024 * 1024 * 1024,
        }
    }
}

/// An incremental request decoder for one connection.
///
/// Call [`Decoder::decode`] after every read until it returns `Ok(None)`. Between calls the
/// caller may only append to the buffer; after replacing or clearing it, call
/// [`Decoder::reset`]. (Misuse cannot make the decoder panic, only return a wrong frame.)
/// After an error the stream is unframeable: reply and close the connection.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// Bytes at the front of the buffer already checked as part of the frame in progress.
    checked: usize,
    shape: Shape,
    /// Where each argument checked so far lies, relative to the start of the frame.
    spans: Vec<Range<usize>>,
}

/// What the frame at the front of the buffer is, as far as the check pass knows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Nothing checked yet.
    #[default]
    Start,
    /// An inline line; `checked` bytes of it hold no `\n`.
    Inline,
    /// A multibulk request with `remaining` arguments to check. `bulk` is the length of the
    /// argument whose `$` header is checked but whose data has not all arrived.
    Multibulk {
        remaining: usize,
        bulk: Option<usize>,
    },
}

/// Decodes one request from the front of `buf` with a fresh [`Decoder`].
///
/// Convenient for tests and one-shot use; a connection should keep a [`Decoder`], which does not
/// re-examine a partial frame on every read.
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>> {
    Decoder::new(*limits).decode(buf)
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            ..Decoder::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Changes the limits, for example to loosen them once a client has authenticated. They
    /// apply to headers not yet checked.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Forgets the partial frame, after the caller replaced or cleared its buffer.
    pub fn reset(&mut self) {
        self.checked = 0;
        self.shape = Shape::Start;
        self.spans.clear();
        // A frame of a million arguments should not pin its span table for the connection's life.
        self.spans.shrink_to(64);
    }

    /// Takes the next complete request off the front of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed; the partial frame stays in `buf`. Empty requests
    /// (blank inline lines, `*0` and `*-1`) are consumed and skipped, as Redis does.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        if buf.len() < self.checked {
            // The caller shrank the buffer under us: what we remembered is about other bytes.
            self.reset();
        }
        let result = self.next_frame(buf);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn next_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        loop {
            if self.shape == Shape::Start {
                match buf.first() {
                    None => return Ok(None),
                    Some(b'*') => {
                        let Some((count, header_len)) = self.multibulk_header(buf)? else {
                            return Ok(None);
                        };
                        if count == 0 {
                            buf.advance(header_len);
                            continue;
                        }
                        self.shape = Shape::Multibulk {
                            remaining: count,
                            bulk: None,
                        };
                        self.checked = header_len;
                    }
                    Some(_) => self.shape = Shape::Inline,
                }
            }
            let frame = match self.shape {
                Shape::Inline => self.inline(buf)?,
                _ => self.multibulk(buf)?,
            };
            match frame {
                Some(args) if args.is_empty() => continue,
                other => return Ok(other),
            }
        }
    }

    /// Reads `*<count>\r\n`: the count (0 for the empty `*0` and `*-1`) and the header's length.
    fn multibulk_header(&self, buf: &[u8]) -> Result<Option<(usize, usize)>> {
        let Some(digits) = header_line(buf, 0, self.limits.max_inline_len)
            .map_err(|_| ProtocolError::TooBigMultibulkCount)?
        else {
            return Ok(None);
        };
        let header_len = digits.end + 2;
        let count = line_number(buf, &digits).ok_or(ProtocolError::InvalidMultibulkLength)?;
        if count <= 0 {
            // A negative count is a null array; Redis treats it, like 0, as an empty request.
            return Ok(Some((0, header_len)));
        }
        // Redis caps the count at INT_MAX whatever the configured limit.
        let count = usize::try_from(count)
            .ok()
            .filter(|&n| n <= self.limits.max_multibulk_len && n <= i32::MAX as usize)
            .ok_or(ProtocolError::InvalidMultibulkLength)?;
        Ok(Some((count, header_len)))
    }

    /// Continues the check pass through the arguments of a multibulk request.
    fn multibulk(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        while let Shape::Multibulk { remaining, bulk } = self.shape {
            if remaining == 0 {
                return Ok(Some(self.take_frame(buf)));
            }
            let pos = self.checked;
            match bulk {
                Some(len) => {
                    // Saturating: with an absurd configured limit the frame merely never
                    // completes, rather than overflowing.
                    let end = pos.saturating_add(len);
                    let Some(terminator) = buf.get(end..end.saturating_add(2)) else {
                        return Ok(None);
                    };
                    if terminator != b"\r\n" {
                        return Err(ProtocolError::MissingBulkTerminator);
                    }
                    self.spans.push(pos..end);
                    self.checked = end + 2;
                    self.shape = Shape::Multibulk {
                        remaining: remaining - 1,
                        bulk: None,
                    };
                }
                None => {
                    let Some(&first) = buf.get(pos) else {
                        return Ok(None);
                    };
                    if first != b'$' {
                        return Err(ProtocolError::ExpectedBulk(first));
                    }
                    let Some(digits) = header_line(buf, pos, self.limits.max_inline_len)
                        .map_err(|_| ProtocolError::TooBigBulkCount)?
                    else {
                        return Ok(None);
                    };
                    let len = line_number(buf, &digits)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|&n| n <= self.limits.max_bulk_len)
                        .ok_or(ProtocolError::InvalidBulkLength)?;
                    self.checked = digits.end + 2;
                    if self.checked.saturating_add(len).saturating_add(2)
                        > self.limits.max_request_len
                    {
                        return Err(ProtocolError::TooBigRequest);
                    }
                    self.shape = Shape::Multibulk {
                        remaining,
                        bulk: Some(len),
                    };
                }
            }
        }
        Ok(None)
    }

    /// Cuts the checked frame off the buffer and slices its arguments out of it.
    fn take_frame(&mut self, buf: &mut BytesMut) -> Frame {
        let frame = buf.split_to(self.checked).freeze();
        let args = self.spans.drain(..).map(|span| frame.slice(span)).collect();
        self.reset();
        args
    }

    /// Checks an inline line, and splits it once its `\n` has arrived.
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        let max = self.limits.max_inline_len;
        // The line may hold `max` bytes, then `\r\n`: look no further than that for its end.
        let window = buf.len().min(max.saturating_add(2));
        let from = self.checked.min(window);
        let Some(found) = buf[from..window].iter().position(|&b| b == b'\n') else {
            // Past `max` bytes, only the `\r` of a `\r\n` may still come before the `\n`.
            let overlong = buf.get(max).is_some_and(|&b| b != b'\r');
            if overlong || window == max.saturating_add(2) {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            self.checked = window;
            return Ok(None);
        };
        let newline = from + found;
        let content_end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        if content_end > max {
            return Err(ProtocolError::TooBigInlineRequest);
        }
        let line = buf.split_to(newline + 1).freeze();
        self.reset();
        split_args(&line.slice(..content_end)).map(Some)
    }
}

/// Finds the header line that starts at `start` (with its type byte) in `buf`: the range of the
/// text after the type byte, up to the `\r`. `Ok(None)` while the `\r\n` has not arrived;
/// `Err(())` when no `\r` comes within `max` bytes.
fn header_line(
    buf: &[u8],
    start: usize,
    max: usize,
) -> std::result::Result<Option<Range<usize>>, ()> {
    let window_end = buf.len().min(start.saturating_add(max).saturating_add(1));
    let window = buf.get(start + 1..window_end).unwrap_or_default();
    match window.iter().position(|&b| b == b'\r') {
        Some(i) => {
            let cr = start + 1 + i;
            // The `\n` must have arrived too; a `\r` followed by anything else fails the number.
            Ok((cr + 1 < buf.len()).then_some(start + 1..cr))
        }
        None if buf.len() - start > max => Err(()),
        None => Ok(None),
    }
}

/// The number on a header line, if the text parses and the line ends in `\r\n`.
fn line_number(buf: &[u8], digits: &Range<usize>) -> Option<i64> {
    if buf.get(digits.end + 1) != Some(&b'\n') {
        return None;
    }
    parse_i64(&buf[digits.clone()])
}
