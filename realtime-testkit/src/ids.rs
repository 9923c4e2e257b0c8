//! Deterministic, seeded ids shaped like the service's (`event_`, `item_`, `resp_`, `call_`
//! followed by 21 base62 characters), so snapshots are stable from run to run.

/// Makes ids from a seed and a counter: the same seed gives the same sequence.
#[derive(Debug, Clone)]
pub(crate) struct IdGen {
    seed: u64,
    counter: u64,
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl IdGen {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed, counter: 0 }
    }

    /// The next id with `prefix`, e.g. `item_CkP1oD8y7x6w5v4u3t2s1`.
    pub(crate) fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let mut state = splitmix64(self.seed ^ self.counter.wrapping_mul(0xA24B_AED4_963E_E407));
        let mut out = String::with_capacity(prefix.len() + 22);
        out.push_str(prefix);
        out.push('_');
        for i in 0..21 {
            if i == 10 {
                state = splitmix64(state);
            }
            out.push(ALPHABET[(state % 62) as usize] as char);
            state /= 62;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let mut a = IdGen::new(7);
        let mut b = IdGen::new(7);
        let xs: Vec<String> = (0..100).map(|_| a.next("item")).collect();
        let ys: Vec<String> = (0..100).map(|_| b.next("item")).collect();
        assert_eq!(xs, ys);
        let unique: std::collections::BTreeSet<_> = xs.iter().collect();
        assert_eq!(unique.len(), 100);
        assert!(xs.iter().all(|x| x.len() == "item_".len() + 21));
        assert_ne!(IdGen::new(8).next("item"), xs[0]);
    }
}
