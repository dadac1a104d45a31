//! Parsers for the replies of `show info`, `show stat` (CSV) and
//! `show servers state`. Columns are found by their header names, so columns
//! added by newer HAProxy versions do not matter.

use std::collections::HashMap;

/// What `show info` says about the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    pub pid: u32,
    pub uptime_sec: u64,
    /// `Start_time_sec` (HAProxy ≥ 2.6): the process start, Unix seconds.
    pub start_time_sec: Option<i64>,
    pub version: String,
}

/// Parses `show info` (`Key: value` lines).
pub fn parse_info(text: &str) -> Result<Info, String> {
    let map: HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let pid = map
        .get("Pid")
        .and_then(|v| v.parse().ok())
        .ok_or("`show info` has no Pid")?;
    let uptime_sec = map
        .get("Uptime_sec")
        .and_then(|v| v.parse().ok())
        .ok_or("`show info` has no Uptime_sec")?;
    Ok(Info {
        pid,
        uptime_sec,
        start_time_sec: map.get("Start_time_sec").and_then(|v| v.parse().ok()),
        version: map.get("Version").copied().unwrap_or_default().to_string(),
    })
}

/// One server of the backend, from `show stat` merged with `show servers state`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStat {
    pub name: String,
    /// `sid`: the order servers are declared in.
    pub id: u32,
    /// `UP`, `UP 1/3`, `DOWN`, `DOWN 1/2`, `MAINT`, `MAINT(via)`, `DRAIN`, `NOLB`, `no check`.
    pub status: String,
    /// The weight HAProxy balances with now (0 while draining).
    pub effective_weight: u32,
    /// The weight set by configuration or `set server … weight`.
    pub user_weight: u32,
    /// The weight in the configuration file (what a restart comes back to).
    pub initial_weight: Option<u32>,
    /// `host:port` the server is reached at.
    pub addr: Option<String>,
    /// Last health check: `L7OK`, `L4CON`, … and its description.
    pub check_status: String,
    pub check_desc: String,
    pub last_check: String,
    /// HTTP responses by class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub responses: [u64; 6],
    /// Sessions (connections) sent to the server since HAProxy started.
    pub sessions_total: u64,
    /// Seconds since the status last changed.
    pub last_change_sec: Option<u64>,
}

impl ServerStat {
    /// Total HTTP responses.
    pub fn responses_total(&self) -> u64 {
        self.responses.iter().sum()
    }
}

/// Splits one CSV line; HAProxy quotes fields that hold commas or quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Parses `show stat` CSV and keeps the servers (type 2) of `backend`.
pub fn parse_stat(text: &str, backend: &str) -> Result<Vec<ServerStat>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| {
            format!(
                "`show stat` did not answer CSV: {}",
                text.lines().next().unwrap_or("(empty)")
            )
        })?;
    let cols: HashMap<String, usize> = split_csv(header)
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    for needed in ["pxname", "svname", "status", "weight"] {
        if !cols.contains_key(needed) {
            return Err(format!("`show stat` has no `{needed}` column"));
        }
    }
    let mut out = Vec::new();
    for line in lines {
        let f = split_csv(line);
        let get = |name: &str| -> &str {
            cols.get(name)
                .and_then(|&i| f.get(i))
                .map_or("", |s| s.as_str())
        };
        let num = |name: &str| get(name).parse::<u64>().ok();
        if get("pxname") != backend {
            continue;
        }
        let is_server = match get("type") {
            "" => !matches!(get("svname"), "BACKEND" | "FRONTEND"),
            t => t == "2",
        };
        if !is_server {
            continue;
        }
        let weight = num("weight").unwrap_or(0) as u32;
        let mut responses = [0u64; 6];
        for (slot, col) in responses.iter_mut().zip([
            "hrsp_1xx",
            "hrsp_2xx",
            "hrsp_3xx",
            "hrsp_4xx",
            "hrsp_5xx",
            "hrsp_other",
        ]) {
            *slot = num(col).unwrap_or(0);
        }
        out.push(ServerStat {
            name: get("svname").to_string(),
            id: num("sid").unwrap_or(0) as u32,
            status: get("status").to_string(),
            effective_weight: weight,
            user_weight: num("uweight").map_or(weight, |w| w as u32),
            initial_weight: None,
            addr: Some(get("addr").to_string()).filter(|a| !a.is_empty()),
            check_status: get("check_status").to_string(),
            check_desc: get("check_desc").to_string(),
            last_check: get("last_chk").to_string(),
            responses,
            sessions_total: num("stot").unwrap_or(0),
            last_change_sec: num("lastchg"),
        });
    }
    Ok(out)
}

/// One line of `show servers state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerState {
    pub name: String,
    pub op_state: u32,
    pub admin_state: u32,
    pub user_weight: u32,
    pub initial_weight: u32,
}

/// Parses `show servers state BACKEND`: a version line (`1`), a `#` header, then
/// one line per server with space-separated columns.
pub fn parse_servers_state(text: &str) -> Result<Vec<ServerState>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let version = lines.next().unwrap_or_default().trim();
    if version != "1" {
        return Err(format!(
            "`show servers state` answered `{version}`, not format version 1"
        ));
    }
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix('#'))
        .ok_or("`show servers state` has no header line")?;
    let cols: HashMap<&str, usize> = header
        .split_whitespace()
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let col = |name: &str| {
        cols.get(name)
            .copied()
            .ok_or_else(|| format!("`show servers state` has no `{name}` column"))
    };
    let (name_i, op_i, admin_i, uw_i, iw_i) = (
        col("srv_name")?,
        col("srv_op_state")?,
        col("srv_admin_state")?,
        col("srv_uweight")?,
        col("srv_iweight")?,
    );
    let mut out = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<u32, String> {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("`show servers state`: bad line `{line}`"))
        };
        out.push(ServerState {
            name: f
                .get(name_i)
                .ok_or_else(|| format!("`show servers state`: bad line `{line}`"))?
                .to_string(),
            op_state: num(op_i)?,
            admin_state: num(admin_i)?,
            user_weight: num(uw_i)?,
            initial_weight: num(iw_i)?,
        });
    }
    Ok(out)
}

/// Fills `initial_weight` (and the runtime user weight, which `show stat` of
/// older versions lacks) from `show servers state`.
pub fn merge(stats: &mut [ServerStat], states: &[ServerState]) {
    for s in stats.iter_mut() {
        if let Some(st) = states.iter().find(|st| st.name == s.name) {
            s.initial_weight = Some(st.initial_weight);
            s.user_weight = st.user_weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from HAProxy 2.6.12 (columns after `addr` trimmed).
    const STAT: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,uweight\n\
app,emergence-app-v1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,100,1,0,1,1,5,5,,1,4,1,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:18091,100\n\
app,emergence-app-v2,0,0,0,0,,7,0,0,,0,,0,0,0,0,no check,30,1,0,,,5,,,1,4,2,,0,,2,0,,0,,,,0,5,0,0,2,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18092,30\n\
app,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,DOWN,0,0,0,,1,5,5,,1,4,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,\n\
other,x,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,,,5,,,1,4,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,1.2.3.4:80,1\n\n";

    const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\
4 app 1 emergence-app-v1 127.0.0.1 0 0 100 100 5 8 2 0 6 0 0 0 - 18091 - 0 0 - - 0\n\
4 app 2 emergence-app-v2 127.0.0.1 2 0 30 0 5 1 0 2 0 0 0 0 - 18092 - 0 0 - - 0\n\n";

    #[test]
    fn parses_stat_and_state() {
        let mut s = parse_stat(STAT, "app").expect("csv");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "emergence-app-v1");
        assert_eq!(s[0].status, "DOWN");
        assert_eq!(s[0].check_desc, "Layer4 connection problem");
        assert_eq!(s[0].last_check, "Connection refused");
        assert_eq!(s[0].addr.as_deref(), Some("127.0.0.1:18091"));
        assert_eq!(s[1].status, "no check");
        assert_eq!(s[1].effective_weight, 30);
        assert_eq!(s[1].responses[1], 5);
        assert_eq!(s[1].responses[4], 2);
        assert_eq!(s[1].responses_total(), 7);
        assert_eq!(s[1].sessions_total, 7);
        let st = parse_servers_state(STATE).expect("state");
        assert_eq!(st[1].initial_weight, 0);
        assert_eq!(st[1].op_state, 2);
        merge(&mut s, &st);
        assert_eq!(s[1].initial_weight, Some(0));
        assert_eq!(s[1].user_weight, 30);
        assert!(parse_stat("No such proxy.\n", "app").is_err());
        assert!(parse_servers_state("Can't find backend.\n").is_err());
    }

    #[test]
    fn parses_info_and_quoted_csv() {
        let i = parse_info("Name: HAProxy\nVersion: 2.6.12\nPid: 14182\nUptime: 0d 0h00m04s\nUptime_sec: 4\nStart_time_sec: 1795443554\n\n").expect("info");
        assert_eq!(i.pid, 14182);
        assert_eq!(i.uptime_sec, 4);
        assert_eq!(i.start_time_sec, Some(1795443554));
        assert!(parse_info("Permission denied\n").is_err());
        assert_eq!(
            split_csv(r#"a,"b,c","d""e",,"#),
            vec!["a", "b,c", "d\"e", "", ""]
        );
    }
}
