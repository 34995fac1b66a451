//! The keys a run works on, and the random choice of keys per connection.
//!
//! Keys are `bench:NNNNNNNN`, all of one width and kept in one buffer shared by every
//! connection, so picking a key costs a multiplication and no reference count: connections on
//! different threads never write to a shared cache line.

/// The keys of a run: `bench:` and a zero-padded number, at least eight digits wide.
#[derive(Debug)]
pub struct Keyspace {
    text: Vec<u8>,
    width: usize,
    count: usize,
}

impl Keyspace {
    /// `count` keys (at least one).
    pub fn new(count: usize) -> Keyspace {
        let count = count.max(1);
        let digits = digits(count);
        let width = "bench:".len() + digits;
        let mut text = Vec::with_capacity(width * count);
        for i in 0..count {
            text.extend_from_slice(format!("bench:{i:0digits$}").as_bytes());
        }
        Keyspace { text, width, count }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// The key numbered `index % len`.
    pub fn key(&self, index: usize) -> &[u8] {
        let start = (index % self.count) * self.width;
        &self.text[start..start + self.width]
    }
}

/// How many digits the largest of `count` keys needs, and never fewer than eight.
fn digits(count: usize) -> usize {
    count.saturating_sub(1).to_string().len().max(8)
}

/// The keys one connection asks for: picked at random (xorshift), seeded per connection so
/// connections do not walk the keys in step.
#[derive(Debug, Clone)]
pub struct KeyPicker {
    state: u64,
    count: u64,
}

impl KeyPicker {
    /// The picker of connection number `connection` over `keys`.
    pub fn new(keys: &Keyspace, connection: usize) -> KeyPicker {
        // Any non-zero seed works for xorshift; the odd multiplier spreads nearby numbers.
        let state = (connection as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        KeyPicker {
            state,
            count: keys.len() as u64,
        }
    }

    /// The index of the next key.
    pub fn pick(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % self.count) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_width() {
        let keys = Keyspace::new(10);
        assert_eq!(keys.key(0), b"bench:00000000");
        assert_eq!(keys.key(9), b"bench:00000009");
        assert_eq!(keys.key(10), keys.key(0));
        assert_eq!(digits(100_000_000), 8);
        assert_eq!(digits(100_000_001), 9);
        assert_eq!(Keyspace::new(0).len(), 1);
    }

    #[test]
    fn connections_pick_different_keys() {
        let keys = Keyspace::new(10_000);
        let mut first = KeyPicker::new(&keys, 0);
        let mut second = KeyPicker::new(&keys, 1);
        let a: Vec<usize> = (0..20).map(|_| first.pick()).collect();
        let b: Vec<usize> = (0..20).map(|_| second.pick()).collect();
        assert_ne!(a, b);
        assert!(a.iter().chain(&b).all(|&i| i < 10_000));
    }
}
