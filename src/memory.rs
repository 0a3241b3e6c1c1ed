//! The process's resident memory, from Linux's `/proc/self`: the peak
//! (VmHWM) and a reset of it, so each training phase can report its own
//! peak. Elsewhere both answer `None` / do nothing.

/// Peak resident set size since start or the last [`reset_peak`], bytes.
/// `None` where `/proc/self/status` is missing or unreadable.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Sets the peak back to the current resident size (Linux ≥ 4.0:
/// `echo 5 > /proc/self/clear_refs`). Failure is ignored: the peak then
/// covers a longer span, which only overstates it. The kernel's
/// `getrusage` maximum (what `time -v` prints) is the same counter, so
/// after a reset it too covers only the span since.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_peak_follows_a_new_allocation() {
        let Some(before) = peak_rss_bytes() else {
            return; // not Linux
        };
        assert!(before > 0);
        reset_peak();
        // Touch 64 MiB so it is resident, then see the peak include it.
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = peak_rss_bytes().unwrap();
        assert!(after >= 64 << 20, "{after}");
    }
}
