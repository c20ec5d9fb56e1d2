//! Processes and memory, from /proc.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

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
    let out = Command::new("du").arg("-sb").arg(path).output()?;
    let out = String::from_utf8_lossy(&out.stdout);
    let bytes = out.split_whitespace().next().and_then(|n| n.parse().ok());
    bytes.ok_or_else(|| err("du failed"))
}
