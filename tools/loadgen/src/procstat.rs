//! CPU time and memory of a process from Linux procfs (proc(5)): `utime + stime` of
//! `/proc/PID/stat` (all threads, including ones that have ended) and `VmRSS` / `VmHWM` of
//! `/proc/PID/status`.

/// Clock ticks per second of `utime`/`stime` (USER_HZ), from `getconf CLK_TCK`; 100 (the
/// value of every mainstream Linux architecture) when getconf is unavailable.
pub(crate) fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// `utime + stime` in clock ticks, from the text of `/proc/PID/stat`.
fn cpu_ticks_of(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or ')'; the fields
    // after the last ')' start with field 3 (state). utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time (user + system) used by process `pid` so far, in milliseconds.
pub(crate) fn cpu_ms(pid: u32, ticks_per_s: u64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(cpu_ticks_of(&stat)? as f64 * 1000.0 / ticks_per_s as f64)
}

/// Resident memory of a process, KiB: total (`VmRSS`), its peak (`VmHWM`), and the anonymous
/// part (`RssAnon`: the heap and stacks, without mapped files such as the binary or an LMDB map).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Memory {
    pub(crate) rss: u64,
    pub(crate) hwm: u64,
    pub(crate) anon: u64,
}

/// The resident memory of process `pid`.
pub(crate) fn memory_kib(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.get(name.len()..)?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let stat = "4242 (a) b) c) S 1 4242 4242 0 -1 4194560 1 2 3 4 700 35 0 0 20 0 3 0 99";
        assert_eq!(cpu_ticks_of(stat), Some(735));
        assert_eq!(cpu_ticks_of("1 (x) S 1"), None);
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(cpu_ms(me, clock_ticks()).is_some());
        let m = memory_kib(me).unwrap();
        assert!(m.anon > 0 && m.rss >= m.anon && m.hwm >= m.rss);
    }
}
