//! Bounded reads: every length read from a file is checked against a cap before anything is
//! allocated, so a forged size field cannot make the gateway allocate gigabytes.

use std::io::{self, Read, Seek, SeekFrom};

/// Why a container could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("{what} of {len} bytes exceeds the {cap}-byte bound")]
    TooLarge {
        what: &'static str,
        len: u64,
        cap: u64,
    },
}

/// Read exactly `len` bytes, refusing lengths above `cap`.
pub fn read_vec<R: Read>(
    reader: &mut R,
    len: u64,
    cap: u64,
    what: &'static str,
) -> Result<Vec<u8>, ParseError> {
    if len > cap {
        return Err(ParseError::TooLarge { what, len, cap });
    }
    let mut buf = Vec::new();
    reader.by_ref().take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(ParseError::Malformed(what));
    }
    Ok(buf)
}

/// Length of a seekable stream; leaves the position at the start.
pub fn stream_len<R: Seek>(reader: &mut R) -> io::Result<u64> {
    let len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    Ok(len)
}

pub fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

pub fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn a_forged_length_is_refused_before_allocation() {
        let mut r = Cursor::new(vec![0u8; 16]);
        let err = read_vec(&mut r, u64::from(u32::MAX), 1 << 20, "segment").unwrap_err();
        assert!(matches!(err, ParseError::TooLarge { .. }));
        let err = read_vec(&mut r, 32, 1 << 20, "segment").unwrap_err();
        assert!(
            matches!(err, ParseError::Malformed("segment")),
            "short read"
        );
    }
}
