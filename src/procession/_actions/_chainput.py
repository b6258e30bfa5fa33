"""ChainPut: broadcast files to many hosts through a chain of hosts.

The files leave this machine once, as one tar stream, to the first host;
each host writes the stream to its disk *and* forwards it to the next host
while it arrives (``tee``), so the time is nearly that of one copy whatever
the number of hosts (on a real cluster, where each hop has its own CPU,
disk and link).

How a chain is set up (a *round*):

1. every host runs a small POSIX sh script, the *hop*, over ssh (one
   :class:`SshProcess` each, started in parallel); it prepares a private
   directory, a listening endpoint, and says ``ready``;
2. once every hop is ready or has failed, the hops that are ready are
   linked in order: each is told (on its stdin) how to reach the next one
   and the next one's one-time token; hosts that failed (down, refused,
   bad credentials) are simply left out of the chain;
3. this machine streams ``tar -c`` of the files to the first hop.

Transports, between two consecutive hops:

- ``"ssh"`` (default): the hop runs ``ssh next 'cat > FIFO'`` into the
  next hop's private FIFO (mode 700 directory). Encrypted and
  authenticated by ssh itself; no listening socket anywhere; hosts need
  ssh keys to reach one another (as taktuk's tree does).
- ``"nc"``: the next hop listens on a TCP port bound to its own address
  only, accepts a single connection, and takes the data only after a
  random 128-bit token, given to both hops over their ssh sessions (never
  on a command line), was received first. Unauthenticated data is never
  written anywhere; an intruder can at most break the chain (the hop is
  then retried). The data is *not* encrypted: for trusted networks, where
  it saves the encryption cost of every hop. The hop is a small Perl
  program when the host has Perl (one process receiving, writing and
  forwarding), else a shell pipeline of ``socat`` (or ``nc.traditional``)
  and ``tee``.

A single regular file is sent as is; several files or directories go as a
tar stream (``tar -x`` on every host).

Failures: a host that cannot be reached, or fails before ready, is left out
of the chain and reported with its reason. A hop that breaks while data
flows (its host dies) cuts the stream for the hosts after it: they are sent
the files again in a new chain of their own (at most
``chainput_chain_retry`` more rounds); a host whose own copy fails (disk
full, permissions) is reported with tar's message and does not stop the
others, since ``tee -p`` keeps forwarding.

Threads: everything here runs on the conductor thread, from the output and
ends of the hop processes.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Self

from .._conductor import get_conductor
from .._config import CHAINPUT, configuration
from .._log import get_logger
from .._process import (
    STDOUT,
    Process,
    ProcessBase,
    ProcessLifecycleHandler,
    ProcessOutputHandler,
    Stream,
)
from .._process._instruments import emit
from .._remote import (
    Host,
    HostLike,
    SshProcess,
    get_unique_hosts_list,
    make_connection_params,
)
from .._remote._host import expand_hosts
from .._remote._params import rewritten_address
from .._remote._ssh import ssh_argv
from .._time import Duration
from ._action import Action
from ._factory import register_tool
from ._substitute import caller_context, check_expressions, substitute

__all__ = ["ChainPut", "ChainPutProcess"]

log: Final = get_logger("action")

TRANSPORTS: Final = ("ssh", "nc")

# The hop, run by the remote login shell as:
#   sh -c HOP chainput-hop MODE ADDRESS DEST PORT_LO PORT_HI NC NAME PERL_HOP TOOLS
# MODE: ssh or nc (transport); NAME: "-" for a tar stream, else the name of
# the single regular file sent raw (no tar: one copy less on every hop).
# stdin: the token expected from upstream; after "ready", either LAST, or
# "LINK <token of the next hop> nc <address> <port>", or
# "LINK <token of the next hop> sh <shell command reaching it>".
# stdout: "procession-chain ready <port or fifo>", "... link <status>",
# "... tar <status>". Exit status: tar's (or cat's), or 70-76 (see below).
# TOOLS: the first of "perl,socat,nc" the host has does the nc transport's
# networking: PERL_HOP, or socat (1 MiB buffers: half the CPU of
# nc.traditional's 8 KiB ones), or NC.
HOP_SCRIPT: Final = r"""set -u
mode=$1 addr=$2 dest=$3 lo=$4 hi=$5 nc=$6 name=$7 perlhop=$8 tools=$9
say() { printf 'procession-chain %s\n' "$*"; }
perl= socat=
case ",$tools," in *,perl,*) perl=$(command -v perl || :) ;; esac
case ",$tools," in *,socat,*) socat=$(command -v socat || :) ;; esac
IFS= read -r tok || exit 70
mkdir -p -- "$dest" || exit 71
case $addr in
  *[!0-9.]*) ip=$(getent ahostsv4 "$addr" | awk 'NR == 1 {print $1}') ;;
  *) ip=$addr ;;
esac
if [ "$mode" = nc ] && [ -n "$perl" ]; then
  PROCESSION_CHAIN_TOKEN=$tok exec "$perl" -e "$perlhop" "$ip" "$lo" "$hi" "$dest" "$name"
fi
d=$(mktemp -d "${TMPDIR:-/tmp}/procession-chain.XXXXXX") || exit 72
ncpid=
trap 'rm -rf "$d"; [ -z "$ncpid" ] || kill "$ncpid" 2>/dev/null' EXIT
trap 'exit 143' TERM INT HUP
mkfifo "$d/in" "$d/x" || exit 72
listen() {
  if [ -n "$socat" ]; then
    exec "$socat" -u -b 1048576 "TCP4-LISTEN:$2,bind=$1,reuseaddr" STDOUT
  fi
  exec $nc -l -s "$1" -p "$2"
}
connect() {
  if [ -n "$socat" ]; then exec "$socat" -u -b 1048576 STDIN "TCP4:$1:$2"; fi
  exec $nc -q 0 "$1" "$2"
}
if [ "$mode" = nc ]; then
  hexip=$(echo "$ip" | awk -F. '{printf "%02X%02X%02X%02X", $4, $3, $2, $1}')
  exec 3<>"$d/in"
  port=$((lo + $$ % (hi - lo))) tries=0
  while :; do
    (listen "$ip" "$port") </dev/null >"$d/in" 2>"$d/ncerr" &
    ncpid=$! n=0 hexport=$(printf '%04X' "$port")
    while kill -0 "$ncpid" 2>/dev/null && [ $n -lt 250 ] &&
        ! grep -q ": $hexip:$hexport 00000000:0000 0A " /proc/net/tcp; do
      sleep 0.02; n=$((n + 1))
    done
    if kill -0 "$ncpid" 2>/dev/null && [ $n -lt 250 ]; then break; fi
    kill "$ncpid" 2>/dev/null; wait "$ncpid" 2>/dev/null; ncpid=
    tries=$((tries + 1))
    [ $tries -lt 20 ] || { cat "$d/ncerr" >&2; exit 73; }
    port=$((port + 1)); [ $port -lt "$hi" ] || port=$lo
  done
  say ready "$port"
  exec 4<"$d/in" 3>&-
else
  say ready "$d/in"
fi
IFS= read -r link || exit 74
store() {
  if [ "$name" = - ]; then exec tar -x -C "$dest"; fi
  exec cat >"$dest/$name"
}
forward() {
  case $1 in
    "nc "*) set -f; set -- ${1#nc }; connect "$1" "$2" ;;
    *) eval "${1#sh }" ;;
  esac
}
receive() {
  IFS= read -r t || exit 76
  [ "$t" = "$tok" ] || { echo "chainput: wrong token received, data refused" >&2; exit 75; }
  [ "$link" = LAST ] && store
  rest=${link#LINK } && ntok=${rest%% *} && rest=${rest#* }
  if [ "$name" = - ]; then
    (store) <"$d/x" & storepid=$!
    { printf '%s\n' "$ntok"; tee -p "$d/x"; } | { (forward "$rest"); say link $?; }
    wait $storepid
  else
    # A single file: tee writes it (one copy less than a FIFO and cat).
    { printf '%s\n' "$ntok"; tee -p "$dest/$name"; echo $? >"$d/st"; } |
      { (forward "$rest"); say link $?; }
    st=$(cat "$d/st" 2>/dev/null) || st=1
    return "${st:-1}"
  fi
}
# In a subshell: a blocking open of the FIFO there still dies of SIGTERM.
if [ "$mode" = nc ]; then (receive) <&4; else (receive) <"$d/in"; fi
st=$?
say tar $st
exit $st
"""

# The nc transport's hop in Perl, when the host has Perl (Debian's perl-base
# is essential): one process receiving, writing and forwarding with 1 MiB
# buffers, where the shell hop chains netcat, tee and FIFOs (about half the
# CPU per hop). Same wire protocol, same stdin and stdout lines, same exit
# statuses; no single quote (it travels inside the sh script's arguments).
#   perl -e PERL_HOP IP PORT_LO PORT_HI DEST NAME   (token in the environment)
PERL_HOP: Final = r"""use strict; use warnings; use IO::Socket::INET;
my ($ip, $lo, $hi, $dest, $name) = @ARGV;
my $tok = delete $ENV{PROCESSION_CHAIN_TOKEN};
$| = 1; $SIG{PIPE} = "IGNORE";
sub say { print "procession-chain @_\n" }
sub put { my ($fh, $buf) = @_; my $off = 0;
  while ($off < length $buf) {
    my $w = syswrite($fh, $buf, length($buf) - $off, $off);
    return 0 unless defined $w; $off += $w;
  }
  return 1;
}
my ($l, $port);
for my $try (0 .. 19) {
  $port = $lo + ($$ + $try) % ($hi - $lo);
  $l = IO::Socket::INET->new(LocalAddr => $ip, LocalPort => $port, Listen => 1,
                             ReuseAddr => 1, Proto => "tcp") and last;
}
$l or do { print STDERR "chainput: cannot listen on $ip: $!\n"; exit 73 };
say "ready $port";
my $link = <STDIN>; exit 74 unless defined $link; chomp $link;
my $c = $l->accept or exit 76; close $l;
my $buf = "";
while (index($buf, "\n") < 0) {
  my $n = sysread($c, $buf, 4096, length $buf);
  exit 76 unless $n; last if length($buf) > 4096;
}
my $nl = index($buf, "\n");
if ($nl < 0 or substr($buf, 0, $nl) ne $tok) {
  print STDERR "chainput: wrong token received, data refused\n"; exit 75;
}
$buf = substr($buf, $nl + 1);
my ($out, $linkst);
if ($link ne "LAST") {
  my (undef, $ntok, undef, $naddr, $nport) = split / /, $link;
  $out = IO::Socket::INET->new(PeerAddr => $naddr, PeerPort => $nport, Proto => "tcp");
  $out = undef if $out and not put($out, "$ntok\n");
  $linkst = $out ? 0 : 1;
  print STDERR "chainput: cannot reach $naddr:$nport: $!\n" unless $out;
}
my $store;
my $opened = $name eq "-" ? open($store, "|-", "tar", "-x", "-C", $dest)
                          : open($store, ">", "$dest/$name");
print STDERR "chainput: cannot write in $dest: $!\n" unless $opened;
my $st = $opened ? 0 : 1;
while (1) {
  if (length $buf) {
    if ($store and not put($store, $buf)) {
      print STDERR "chainput: write in $dest: $!\n"; $st = 1; close $store; $store = undef;
    }
    if ($out and not put($out, $buf)) { $linkst = 1; close $out; $out = undef }
  }
  my $n = sysread($c, $buf, 1 << 20);
  if (not defined $n) { print STDERR "chainput: read: $!\n"; $st = 1; last }
  last unless $n;
}
if ($out) { shutdown($out, 1); 1 while sysread($out, my $ignored, 4096); close $out }
say "link $linkst" if defined $linkst;
if ($store) { close $store or $st = ($? >> 8) || 1 }
say "tar $st";
exit $st;
"""

_SAY: Final = "procession-chain "

_HOP_EXITS: Final = {
    70: "no token received",
    71: "cannot create the destination directory",
    72: "cannot create a private directory (mktemp, mkfifo)",
    73: "no free port to listen on",
    74: "not linked into the chain",
    75: "a wrong token was received: data refused",
    76: "the upstream host sent nothing",
}


class ChainPutProcess(ProcessBase):
    """One host of a :class:`ChainPut`: did it receive the files?

    Not backed by a local child: it reflects the host's hop processes (one
    per round it took part in), on the conductor thread. ``stdout`` and
    ``stderr`` hold what the hops wrote (tar's messages), ``exit_code`` is
    tar's on the host; a host that could not be reached or set up ends in
    ``error`` with the reason.

    Attributes:
        host: the host.
        rounds: how many chains the host was part of.
    """

    def __init__(self, cmd: str, host: Host, action: ChainPut, **kwargs: Any) -> None:
        self.host = host
        super().__init__(cmd, **kwargs)
        self._action = action

    def _init_state(self) -> None:
        super()._init_state()
        self.rounds = 0

    def _args_repr(self) -> list[str]:
        return [repr(self.cmd), repr(self.host), *self._kwargs_repr()]

    def _begin(self) -> None:
        self._set_started()
        if self.timeout is not None:
            self._timers.append(get_conductor().call_later(self.timeout, self._on_timeout))
        self._call_lifecycle("start")

    def _on_timeout(self) -> None:
        if not self.ended:
            self.timeouted = True
            emit("timeouted", self)
            self._kill_on_conductor(signal.SIGTERM)

    def _kill_on_conductor(self, sig: int) -> None:
        if self.ended:
            return
        self.killed = True
        emit("killed", self)
        self._action._drop(self)
        self._set_ended(exit_signal=sig)

    def start(self) -> Self:
        """Not for direct use: started by its ChainPut.

        Raises:
            ValueError: always, unless already started.
        """
        if self.started:
            return self
        raise ValueError(f"{self!r} is started by its ChainPut, not on its own")

    def kill(
        self, sig: int = signal.SIGTERM, auto_sigkill: bool | Duration = True, **kwargs: Any
    ) -> ChainPutProcess:
        """Stop this host's copy (its hop is killed; hosts after it in the
        chain are sent the files again). Returns at once."""
        if self.started and not self.ended:
            get_conductor().call(self._kill_on_conductor, sig)
        return self

    def reset(self) -> ChainPutProcess:
        """Make the process startable again with its action."""

        def do_reset() -> None:
            self._call_lifecycle("reset")
            self._init_state()
            emit("reset", self)

        get_conductor().call(do_reset)
        return self


class _Hop:
    """One host in one round: its hop process and what it said."""

    def __init__(self, proc: ChainPutProcess, ssh: SshProcess, token: str) -> None:
        self.proc = proc
        self.ssh = ssh
        self.token = token
        self.ready: str | None = None  # port or fifo path
        self.linked = False
        self.forwards = False
        self.link_status: int | None = None
        self.tar_status: int | None = None


class _HopOutput(ProcessOutputHandler):
    """Splits a hop's stdout into protocol lines and passes the rest on."""

    def __init__(self, chain: ChainPut, hop: _Hop) -> None:
        super().__init__()
        self.chain = chain
        self.hop = hop

    def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
        if stream == STDOUT and line.startswith(_SAY):
            self.chain._hop_said(self.hop, line[len(_SAY) :].split(" ", 1))
        elif not self.hop.proc.ended:
            self.hop.proc._emit_output(Stream(stream), (line + "\n").encode(), eof=False)


class _Ended(ProcessLifecycleHandler):
    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn = fn
        self.args = args

    def end(self, process: ProcessBase) -> None:
        self.fn(*self.args)


class ChainPut(Action):
    """Broadcast local files (directories too) to many hosts, hop to hop.

    Same interface as :class:`Put`, one :class:`ChainPutProcess` per host;
    see the module documentation for how the chain works and fails.

    >>> ChainPut("node-[1-200]", ["image.tgz"], "/tmp").run()    # doctest: +SKIP

    Args:
        hosts: hosts, addresses or a node set (duplicates are dropped).
        local_files: local paths, sent as one tar stream; substitutions do
            not apply (every host gets the same stream).
        remote_location: the remote directory (created if needed; default
            the home directory); substitutions apply per host.
        connection_params: overrides of ``default_connection_params``:
            ``ssh``/``ssh_options`` (also used between hosts by the
            ``"ssh"`` transport, so they must work there), ``nc`` (netcat
            for the ``"nc"`` transport: ``nc.traditional``),
            ``chainput_chain_retry`` (rounds for hosts whose upstream
            broke).
        process_args: keyword arguments of each :class:`ChainPutProcess`
            (timeout, ``ignore_*``, ``nolog_*``).
        transport: ``"ssh"`` (default) or ``"nc"``, see above.
        **kwargs: the options of :class:`Action`.

    Threads: ``start()`` sets the first chain up from the calling thread
    through the conductor; everything after (linking, sending, retries,
    the processes' state) happens on the conductor thread.

    Differences from Execo: no unauthenticated listener (ssh by default;
    netcat only behind a one-time token); no taktuk needed; a failed host
    is reported on its process and the chain is rebuilt without it; hosts
    may have different users, ports and keys.
    """

    processes: list[ChainPutProcess]  # type: ignore[assignment]

    _hop_tools: tuple[str, ...] = ("perl", "socat", "nc")
    """The tools the nc transport may use, by preference (tests narrow it)."""

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        local_files: Sequence[str] | str,
        remote_location: str = ".",
        connection_params: Mapping[str, Any] | None = None,
        process_args: Mapping[str, Any] | None = None,
        transport: str = "ssh",
        **kwargs: Any,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"ChainPut transport must be one of {TRANSPORTS}, not {transport!r}")
        self.hosts = get_unique_hosts_list(expand_hosts(hosts))
        kwargs.setdefault("name", f"ChainPut to {len(self.hosts)} hosts")
        super().__init__(**kwargs)
        self.local_files = [local_files] if isinstance(local_files, str) else list(local_files)
        self.remote_location = remote_location
        self.connection_params = dict(connection_params) if connection_params else None
        self.process_args = dict(process_args or {})
        self.transport = transport
        self._params = make_connection_params(connection_params)
        context = caller_context()
        check_expressions(remote_location, context)
        addresses = [h.address for h in self.hosts]
        self._dests = [
            substitute(remote_location, addresses, i, context) for i in range(len(addresses))
        ]
        what = " ".join(os.path.basename(f.rstrip("/")) for f in self.local_files)
        self._adopt(
            [
                ChainPutProcess(f"chainput {what} -> {dest}", host, self, **self.process_args)
                for host, dest in zip(self.hosts, self._dests, strict=True)
            ]
        )

    def __repr__(self) -> str:
        return f"ChainPut(<{len(self.hosts)} hosts>, {self.local_files!r}, name={self.name!r})"

    def _reset_state(self) -> None:
        super()._reset_state()
        self._hops: list[_Hop] = []
        self._live: set[Process] = set()
        self._round = 0
        self._linked = False
        self._building = False
        self._end_pending = False
        self._sender_failure: str | None = None
        self._local_failure: str | None = None
        self._broken_by = "?"

    # ------------------------------------------------- conductor thread only
    def _start_processes(self) -> None:
        for p in self.processes:
            p._begin()
        missing = [f for f in self.local_files if not os.path.exists(f)]
        if missing or not self.local_files:
            reason = f"local file not found: {missing[0]}" if missing else "no file to send"
            for p in self.processes:
                p._set_ended(error_reason=reason)
            return
        self._start_round(list(self.processes))

    def _start_round(self, procs: list[ChainPutProcess]) -> None:
        self._round += 1
        self._linked = False
        self._hops = []
        log.debug("%s: round %d with %d hosts", self.name, self._round, len(procs))
        self._building = True  # a hop failing at once must not link a partial chain
        for p in procs:
            p.rounds += 1
            hop = _Hop(p, self._hop_process(p), secrets.token_hex(16))
            self._hops.append(hop)
            self._spawn(hop.ssh, _Ended(self._hop_ended, hop), _HopOutput(self, hop))
            if not hop.ssh.ended:
                hop.ssh.write(hop.token + "\n")
        self._building = False
        self._maybe_link()

    def _hop_process(self, p: ChainPutProcess) -> SshProcess:
        index = self.processes.index(p)
        lo, hi = configuration.get("port_range", (25500, 26700))
        args = [self.transport, rewritten_address(p.host, self._params), self._dests[index]]
        args += [str(lo), str(hi), " ".join(self._netcat()), self._raw_name() or "-"]
        args += [PERL_HOP, ",".join(self._hop_tools)]
        cmd = shlex.join(["sh", "-c", HOP_SCRIPT, "chainput-hop", *args])
        return SshProcess(
            cmd,
            p.host,
            self.connection_params,
            name=f"chainput hop {p.host.address}",
            nolog_exit_code=True,
            nolog_error=True,
            nolog_timeout=True,
            nolog_write_error=True,
            ignore_write_error=True,
        )

    def _spawn(self, proc: Process, *handlers: Any) -> None:
        for h in handlers:
            if isinstance(h, ProcessLifecycleHandler):
                proc.lifecycle_handlers.append(h)
            else:
                proc.stdout_handlers.append(h)
                proc.stderr_handlers.append(h)
        self._live.add(proc)
        proc.start()

    def _hop_said(self, hop: _Hop, words: list[str]) -> None:
        what, value = words[0], words[1] if len(words) > 1 else ""
        if what == "ready":
            hop.ready = value
            self._maybe_link()
        elif what == "link":
            hop.link_status = int(value)
            if hop.link_status != 0:
                self._break_after(hop)
        elif what == "tar":
            hop.tar_status = int(value)

    def _maybe_link(self) -> None:
        """Once every hop is ready or over: link the ready ones, send."""
        if (
            self._building
            or self._linked
            or any(h.ready is None and not h.ssh.ended for h in self._hops)
        ):
            return
        self._linked = True
        chain = [h for h in self._hops if h.ready is not None and not h.ssh.ended]
        if not chain:
            self._maybe_next_round()
            return
        for hop, nxt in zip(chain, [*chain[1:], None], strict=True):
            hop.linked = True
            hop.forwards = nxt is not None
            line = "LAST" if nxt is None else f"LINK {nxt.token} {self._link_command(nxt)}"
            hop.ssh.write(line + "\n")
            hop.ssh.close_stdin()
        self._send_to(chain[0])

    def _netcat(self) -> list[str]:
        """The netcat of the connection parameters, without its -v flags."""
        return [a for a in str(self._params.get("nc") or "nc").split() if a != "-v"]

    def _raw_name(self) -> str | None:
        """The file name when a single regular file is sent without tar."""
        if len(self.local_files) == 1 and os.path.isfile(self.local_files[0]):
            return os.path.basename(self.local_files[0])
        return None

    def _link_command(self, hop: _Hop) -> str:
        """How the previous host reaches ``hop``: ``nc ADDRESS PORT`` (its
        own netcat connects) or ``sh COMMAND`` (a shell command)."""
        assert hop.ready is not None
        if self.transport == "nc":
            return f"nc {rewritten_address(hop.proc.host, self._params)} {int(hop.ready)}"
        cat = f"cat > {shlex.quote(hop.ready)}"
        return f"sh {shlex.join(ssh_argv(hop.proc.host, cat, self._params, reuse=False))}"

    def _source_command(self) -> list[str]:
        if self._raw_name() is not None:
            return ["cat", self.local_files[0]]
        tar = ["tar", "-c"]
        for f in self.local_files:
            path = os.path.abspath(f.rstrip("/") or "/")
            tar += ["-C", os.path.dirname(path), os.path.basename(path) or "."]
        return tar

    def _first_link(self, first: _Hop) -> list[str]:
        """The command feeding the first host from here."""
        assert first.ready is not None
        address = rewritten_address(first.proc.host, self._params)
        if self.transport == "ssh":
            # From here, the ssh to the first host may share a master connection.
            return ssh_argv(first.proc.host, f"cat > {shlex.quote(first.ready)}", self._params)
        socat = shutil.which("socat") if "socat" in self._hop_tools else None
        if socat:
            return [socat, "-u", "-b", "1048576", "STDIN", f"TCP4:{address}:{first.ready}"]
        return [*self._netcat(), "-q", "0", address, first.ready]

    def _send_to(self, first: _Hop) -> None:
        # The source's own status goes to stderr: the pipeline's is the link's.
        script = (
            f'{{ printf "%s\\n" "$PROCESSION_CHAIN_TOKEN"; {shlex.join(self._source_command())}; '
            f'echo "{_SAY}tar $?" >&2; }} | {shlex.join(self._first_link(first))}'
        )
        sender = Process(
            ["/bin/sh", "-c", script],
            env={"PROCESSION_CHAIN_TOKEN": first.token},
            name=f"chainput sender round {self._round}",
            nolog_exit_code=True,
            nolog_error=True,
            close_stdin=True,
        )
        self._spawn(sender, _Ended(self._sender_ended, sender))

    def _sender_ended(self, sender: Process) -> None:
        self._live.discard(sender)
        said = [line for line in sender.stderr.splitlines() if not line.startswith(_SAY)]
        if f"{_SAY}tar 0" not in sender.stderr.splitlines():
            # This machine could not read the files: no point in retrying.
            detail = "; ".join(said[-3:]) or sender.failure_reason()
            self._local_failure = f"chainput: tar failed here: {detail}"
        elif not sender.ok:
            log.debug("%s: sender ended: %s\n%s", self.name, sender.failure_reason(), said)
            self._sender_failure = f"{sender.failure_reason()}: {' '.join(said[-3:])}"
            self._break_after(None)
        self._maybe_next_round()

    def _break_after(self, hop: _Hop | None) -> None:
        """The stream stops after ``hop`` (None: at the source): the hops
        after it that still wait for data will never get it."""
        chain = [h for h in self._hops if h.linked]
        start = 0 if hop is None else chain.index(hop) + 1
        for later in chain[start:]:
            if not later.ssh.ended and later.tar_status is None:
                later.ssh.kill()

    def _hop_ended(self, hop: _Hop) -> None:
        self._live.discard(hop.ssh)
        if hop.forwards and hop.link_status is None:
            self._break_after(hop)  # died before it could forward everything
        self._maybe_link()
        self._maybe_next_round()

    def _maybe_next_round(self) -> None:
        if not self._linked or any(not p.ended for p in self._live):
            return
        retry = self._settle()
        if retry and self._round <= int(self._params.get("chainput_chain_retry") or 0):
            self._start_round(retry)
        else:
            for p in retry:
                p._set_ended(error_reason=self._victim_reason(p))

    def _settle(self) -> list[ChainPutProcess]:
        """End the processes of the round that are done; return those to
        send again (their upstream broke)."""
        retry: list[ChainPutProcess] = []
        broken: _Hop | None = None
        source_broken = self._sender_failure is not None
        for hop in self._hops:
            p, ssh = hop.proc, hop.ssh
            if p.ended:
                pass
            elif self._local_failure is not None:
                p._set_ended(error_reason=self._local_failure)
            elif hop.ready is None:
                p._set_ended(error_reason=_setup_failure(ssh))
            elif ssh.ok:
                p._set_ended(exit_code=0)
            elif broken is not None or source_broken:
                self._broken_by = broken.proc.host.address if broken else "this machine"
                retry.append(p)
            else:
                self._own_failure(p, ssh)
            # After a hop that failed or could not forward everything, the
            # hosts that failed are sent the files again: their stream may
            # have been cut (netcat, unlike ssh, may not say so).
            if hop.forwards and broken is None and (hop.link_status != 0 or not ssh.ok):
                broken = hop
        self._sender_failure = None
        return retry

    def _own_failure(self, p: ChainPutProcess, ssh: SshProcess) -> None:
        if ssh.error:
            p._set_ended(error_reason=ssh.error_reason)
        elif ssh.exit_code in _HOP_EXITS:
            p._set_ended(error_reason=f"chainput: {_HOP_EXITS[ssh.exit_code]}")
        else:
            p._set_ended(exit_code=ssh.exit_code, exit_signal=ssh.exit_signal)

    def _victim_reason(self, p: ChainPutProcess) -> str:
        return (
            f"chainput: the chain broke upstream (at {self._broken_by}) "
            f"in each of {p.rounds} rounds"
        )

    def _drop(self, p: ChainPutProcess) -> None:
        """``p`` was killed or timed out: stop its hop (the chain after it
        is rebuilt, as for a failed host)."""
        for hop in self._hops:
            if hop.proc is p and not hop.ssh.ended:
                hop.ssh.kill()

    def _set_ended(self) -> None:
        # Every host is done: the action ends once no hop or sender is left.
        running = [p for p in self._live if not p.ended]
        if running:
            self._end_pending = True
            for proc in running:
                proc.kill()
                proc.lifecycle_handlers.append(_Ended(self._child_gone))
            return
        super()._set_ended()

    def _child_gone(self) -> None:
        if self._end_pending and all(p.ended for p in self._live):
            super()._set_ended()


def _setup_failure(ssh: SshProcess) -> str:
    if ssh.error:
        return str(ssh.error_reason)
    if ssh.exit_code in _HOP_EXITS:
        detail = ssh.stderr.strip().splitlines()[-1:] or [""]
        return f"chainput: {_HOP_EXITS[ssh.exit_code]}{': ' + detail[0] if detail[0] else ''}"
    return f"chainput: the hop failed before it was ready ({ssh.failure_reason()})"


register_tool("fileput", CHAINPUT, ChainPut)
