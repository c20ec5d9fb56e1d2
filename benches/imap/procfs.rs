//! Processes and memory, from /proc.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use std::{fs, io, thread};

use crate::err;

/// A field of /proc/PID/stat after the command name: 0 is the state, 1 the parent pid.
pub fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = stat.rsplit_once(')')?.1;
    fields.split_whitespace().nth(n).map(String::from)
}

pub fn proc_tree(root: u32) -> Vec<u32> {
    let entries = fs::read_dir("/proc").into_iter().flatten().flatten();
    let pids = entries.filter_map(|e| e.file_name().to_str()?.parse().ok());
    let ppid = |p: u32| Some((p, stat_field(p, 1)?.parse::<u32>().ok()?));
    let parents: Vec<(u32, u32)> = pids.filter_map(ppid).collect();
    let mut tree = vec![root];
    let mut i = 0;
    while let Some(&p) = tree.get(i) {
        let children = parents.iter().filter(|&&(_, pp)| pp == p);
        tree.extend(children.map(|&(c, _)| c));
        i += 1;
    }
    tree
}

fn kib(path: &str, key: &str) -> Option<u64> {
    let s = fs::read_to_string(path).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Memory in KiB, summed over a process tree.
#[derive(Clone, Copy, Default)]
pub struct Mem {
    pub rss: u64,
    pub hwm: u64,
    pub pss: u64,
    pub procs: usize,
}

pub fn mem(root: u32) -> Mem {
    let mut m = Mem::default();
    for pid in proc_tree(root) {
        let status = format!("/proc/{pid}/status");
        let Some(rss) = kib(&status, "VmRSS:") else {
            continue;
        };
        m.rss += rss;
        m.hwm += kib(&status, "VmHWM:").unwrap_or(0);
        m.pss += kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:").unwrap_or(0);
        m.procs += 1;
    }
    m
}

/// Resets VmHWM over the tree; false if the kernel or permissions refuse.
pub fn reset_hwm(root: u32) -> bool {
    let reset = |pid| fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    proc_tree(root).into_iter().all(reset)
}

pub fn du(path: &Path) -> io::Result<u64> {
    du_with(path, &["-sb"])
}

/// Octets of disk blocks allocated under `path` (`du -s -B1`): sparse file tails do not count.
pub fn du_blocks(path: &Path) -> io::Result<u64> {
    du_with(path, &["-s", "-B1"])
}

/// The first number `du ARGS PATH` prints.
fn du_with(path: &Path, args: &[&str]) -> io::Result<u64> {
    let out = Command::new("du").args(args).arg(path).output()?;
    let out = String::from_utf8_lossy(&out.stdout);
    let bytes = out.split_whitespace().next().and_then(|n| n.parse().ok());
    bytes.ok_or_else(|| err("du failed"))
}

/// Server memory across one operation, in KiB over the process tree.
#[derive(Clone, Copy)]
pub struct Span {
    pub before: Mem,
    pub after: Mem,
    /// The largest RSS sampled every 20 ms, or at the end.
    pub sampled_peak: u64,
    /// VmHWM was reset just before, so `after.hwm` is the peak of the operation alone.
    pub hwm_reset: bool,
}

impl Span {
    /// RSS growth from before to after.
    pub fn growth(&self) -> i64 {
        self.after.rss as i64 - self.before.rss as i64
    }

    /// Peak RSS growth: from samples, and from VmHWM when it was reset (the sum of the
    /// processes' peaks, exact for a single process and close when one process does the work).
    pub fn peak_growth(&self) -> i64 {
        let hwm = if self.hwm_reset { self.after.hwm } else { 0 };
        self.sampled_peak.max(hwm) as i64 - self.before.rss as i64
    }

    /// `RSS a -> b KiB (+g), peak p KiB, VmHWM h KiB (reset before)`.
    pub fn detail(&self) -> String {
        let (m0, m1, p) = (self.before, self.after, self.sampled_peak);
        let since = if self.hwm_reset {
            "reset before"
        } else {
            "since start"
        };
        let grow = self.growth();
        let detail = format!("RSS {} -> {} KiB ({grow:+}), peak {p} KiB", m0.rss, m1.rss);
        format!("{detail}, VmHWM {} KiB ({since})", m1.hwm)
    }
}

/// Runs `f`, timing it and, with a pid, watching the memory of its process tree: VmHWM reset
/// just before, RSS sampled every 20 ms.
pub fn watch<T>(pid: Option<u32>, f: impl FnOnce() -> T) -> (T, Duration, Option<Span>) {
    let hwm_reset = pid.is_some_and(reset_hwm);
    let (before, stop, peak) = (pid.map(mem), &AtomicBool::new(false), &AtomicU64::new(0));
    let (res, time) = thread::scope(|s| {
        if let Some(pid) = pid {
            s.spawn(move || {
                while !stop.load(Relaxed) {
                    peak.fetch_max(mem(pid).rss, Relaxed);
                    thread::sleep(Duration::from_millis(20));
                }
            });
        }
        let t = Instant::now();
        let res = f();
        stop.store(true, Relaxed);
        (res, t.elapsed())
    });
    let span = before.zip(pid.map(mem)).map(|(before, after)| Span {
        before,
        after,
        sampled_peak: peak.load(Relaxed).max(after.rss),
        hwm_reset,
    });
    (res, time, span)
}

/// The soft and hard limits on open files of a process.
pub fn nofile(pid: u32) -> Option<(u64, u64)> {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut n = line
        .split_whitespace()
        .skip(3)
        .map(|v| v.parse().unwrap_or(u64::MAX));
    Some((n.next()?, n.next()?))
}

/// Raises a process's open-file limit towards `want` with `prlimit(1)` (the bench forbids
/// unsafe code, so no setrlimit of its own): to `want` if allowed, else (without
/// CAP_SYS_RESOURCE the hard limit cannot go up) the soft limit to the hard one. Returns the soft
/// limit in effect afterwards, and why `want` could not be had, if so.
pub fn raise_nofile(pid: u32, want: u64) -> (u64, Option<String>) {
    let Some((soft, hard)) = nofile(pid) else {
        return (0, Some(format!("no /proc/{pid}/limits")));
    };
    if soft >= want {
        return (soft, None);
    }
    let prlimit = |soft: u64, hard: u64| {
        let arg = format!("--nofile={soft}:{hard}");
        let pid_arg = pid.to_string();
        let out = Command::new("prlimit")
            .args(["--pid", &pid_arg, &arg])
            .output();
        match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr);
                Some(format!("prlimit --pid {pid} {arg}: {}", why.trim()))
            }
            Err(e) => Some(format!("prlimit --pid {pid} {arg}: {e}")),
        }
    };
    let mut failed = prlimit(want, hard.max(want));
    if failed.is_some() && soft < hard.min(want) {
        if let Some(also) = prlimit(hard.min(want), hard) {
            failed = failed.map(|f| format!("{f}; {also}"));
        }
    }
    (nofile(pid).map_or(soft, |l| l.0), failed)
}
