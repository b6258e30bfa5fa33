#!/bin/bash
# procession's own OAR testbed: a real OAR 2.5 server (Debian 12 packages) on a
# private PostgreSQL cluster, with fake Grid'5000-named nodes on loopback aliases.
#
#   oar-testbed.sh install   apt-get the OAR packages (service starts denied)
#   oar-testbed.sh setup     PostgreSQL cluster, oar.conf, OAR database, queues,
#                            resources (nodes of two "sites"), test user, ssh aliases
#   oar-testbed.sh start     start PostgreSQL, the nodes' sshd (port 6667) and Almighty
#   oar-testbed.sh up        install (if missing) + setup + start, idempotent
#   oar-testbed.sh stop      delete the current jobs, stop what start started (pid files)
#   oar-testbed.sh status    show the daemons and oarnodes
#   oar-testbed.sh env       print the testbed's coordinates as shell assignments
#   oar-testbed.sh clean     stop, restore the shipped oar.conf, delete $TB
#   oar-testbed.sh api-start the OAR REST API (oar-restful-api) on 127.0.0.1:$OAR_API_PORT
#   oar-testbed.sh api-stop  stop it (stop and clean stop it too)
#
# Nodes: site A (queue/property site=grenoble, cluster dahu) and site B
# (site=lyon, cluster nova), $OAR_NODES nodes each: both are in the Grid'5000
# reference data that the API stand-in serves (procession.testbed.g5kapi), so the
# API's status and jobs of grenoble and lyon are backed by this OAR; node "dahu-1.grenoble.grid5000.fr"
# is served by an sshd on 127.77.0.1:6667 (site B: 127.77.1.i). The OAR user's
# ~/.ssh/config maps the names to the addresses, and $TB/hosts lists them
# ("name address" per line) for the tests' host_rewrite_func.
#
# Everything runtime lives under $TB (default /tmp/procession-oar). Written
# outside $TB, unavoidably: the packages, /etc/oar/oar.conf (edited in place;
# the first copy is kept as $TB/oar.conf.orig), /var/lib/oar/.ssh/config (a marked
# block), /var/log/oar.log, /var/run/oar-server.pid, the user $OAR_TEST_USER.
# Derived from a recipe seen to work on Debian 12 (see docs/g5k.md).
set -euo pipefail

TB=${OAR_TESTBED_DIR:-/tmp/procession-oar}
PGPORT=${OAR_PGPORT:-15432}
PGBIN=/usr/lib/postgresql/15/bin
NODES=${OAR_NODES:-3}                 # nodes per site
CORES=${OAR_CORES_PER_NODE:-2}        # resources (cores) per node
NET=${OAR_NET:-127.77}                # site k node i listens on $NET.k.i:6667
SITES=(grenoble lyon)
CLUSTERS=(dahu nova)
TEST_USER=${OAR_TEST_USER:-oartest}
OARCONF=/etc/oar/oar.conf
FRONTEND=${OAR_FRONTEND:-127.77.0.253}
FRONTEND_PORT=${OAR_FRONTEND_PORT:-6622}
PACKAGES=(oar-server oar-server-pgsql oar-user oar-user-pgsql oar-node
  postgresql-15 postgresql-client-15 openssh-server libjson-perl
  oar-restful-api apache2 libyaml-syck-perl curl)

node_name() { echo "${CLUSTERS[$1]}-$2.${SITES[$1]}.grid5000.fr"; }
node_addr() { echo "$NET.$1.$2"; }
log() { printf '[oar-testbed %(%T)T] %s\n' -1 "$*" >&2; }

set_conf() {  # set_conf KEY VALUE : replace/append KEY="VALUE" in oar.conf
  local k=$1 v=$2
  if grep -qE "^#?\s*$k=" "$OARCONF"; then
    sed -i -E "0,/^#?\s*$k=.*/s||$k=\"$v\"|" "$OARCONF"
  else
    echo "$k=\"$v\"" >>"$OARCONF"
  fi
}
unset_conf() { sed -i -E "s|^($1=.*)|#\1|" "$OARCONF"; }
psql_admin() { PGHOST=127.0.0.1 PGPORT=$PGPORT PGUSER=postgres psql -qtAX "$@"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

cmd_install() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || { log "missing packages ${missing[*]}; run as root"; exit 1; }
  # The packages' postinst would start PostgreSQL and OAR system-wide: deny
  # service starts while installing (policy-rc.d exit 101), restore afterwards.
  local prc=/usr/sbin/policy-rc.d saved=""
  if [ -e $prc ]; then saved=$(mktemp); cp -p $prc "$saved"; fi
  printf '#!/bin/sh\nexit 101\n' >$prc; chmod 755 $prc
  trap 'if [ -n "$saved" ]; then mv "$saved" '$prc'; else rm -f '$prc'; fi' RETURN
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null; }
}

pg_running() { [ -f "$TB/pg/postmaster.pid" ] && kill -0 "$(head -1 "$TB/pg/postmaster.pid")" 2>/dev/null; }
pg_start() {
  mkdir -p "$TB"; chmod 755 "$TB"
  if [ ! -f "$TB/pg/PG_VERSION" ]; then
    install -d -o postgres -g postgres "$TB/pg" "$TB/pgsock"
    su postgres -c "$PGBIN/initdb -D $TB/pg --auth=trust -U postgres -E UTF8 --locale=C.UTF-8" >"$TB/initdb.log"
  fi
  install -d -o postgres -g postgres "$TB/pgsock"
  pg_running || su postgres -c "$PGBIN/pg_ctl -D $TB/pg -l $TB/pgsock/pg.log -w -o '-p $PGPORT -k $TB/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=32MB' start" >/dev/null
}
pg_stop() { if pg_running; then su postgres -c "$PGBIN/pg_ctl -D $TB/pg -m fast -w stop" >/dev/null || true; fi; }

cmd_setup() {
  mkdir -p "$TB"; chmod 755 "$TB"
  [ -f "$TB/oar.conf.orig" ] || cp -p "$OARCONF" "$TB/oar.conf.orig"
  set_conf DB_HOSTNAME 127.0.0.1
  set_conf DB_PORT "$PGPORT"
  set_conf DB_BASE_PASSWD oar
  set_conf DB_BASE_PASSWD_RO oar_ro
  set_conf SERVER_HOSTNAME 127.0.0.1
  set_conf DEPLOY_HOSTNAME "$NET.0.254"
  set_conf COSYSTEM_HOSTNAME "$NET.0.254"
  set_conf LOG_LEVEL 2
  # No cgroups: the shipped job_resource_manager_cgroups.pl mounts and edits cpuset
  # cgroups on every node (all of them this one machine). Keep the cpuset field (oarsh
  # needs a cpuset_name) but run a no-op manager, and unset CPUSET_PATH.
  echo 'exit(0);' >"$TB/job_resource_manager_noop.pl"
  set_conf JOB_RESOURCE_MANAGER_PROPERTY_DB_FIELD cpuset
  set_conf JOB_RESOURCE_MANAGER_FILE "$TB/job_resource_manager_noop.pl"
  unset_conf CPUSET_PATH
  # Grid'5000-like: "-l nodes=N" means N distinct hosts
  set_conf OARSUB_NODES_RESOURCES host
  set_conf SCHEDULER_PRIORITY_HIERARCHY_ORDER "host/cpu/core/resource_id"
  set_conf SCHEDULER_RESOURCE_ORDER "scheduler_priority ASC, state_num ASC, available_upto DESC, suspended_jobs ASC, host ASC, resource_id ASC"
  # Almighty schedules at most every SCHEDULER_MIN_TIME_BETWEEN_2_CALLS s (default 5):
  # 1 s makes job starts prompt.
  set_conf SCHEDULER_MIN_TIME_BETWEEN_2_CALLS 1
  pg_start
  if [ "$(psql_admin -d postgres -c "select 1 from pg_database where datname='oar'")" != 1 ]; then
    oar-database --create --db-type=Pg --db-host=127.0.0.1 --db-port="$PGPORT" \
      --db-user=oar --db-pass=oar --db-ro-user=oar_ro --db-ro-pass=oar_ro \
      --db-admin-user=postgres --db-admin-pass=x -y >"$TB/oar-database.log" 2>&1
  fi
  # ssh aliases for user oar: node names -> loopback addresses; $TB/hosts for the tests
  local sc=/var/lib/oar/.ssh/config rest k i
  rest=$(awk '/^# BEGIN procession/,/^# END procession/{next}1' "$sc")
  : >"$TB/hosts"
  {
    echo "# BEGIN procession oar-testbed"
    for k in 0 1; do for i in $(seq 1 "$NODES"); do
      printf 'Host %s\n  HostName %s\n  Port 6667\n' "$(node_name $k "$i")" "$(node_addr $k "$i")"
      echo "$(node_name $k "$i") $(node_addr $k "$i")" >>"$TB/hosts"
    done; done
    echo "# END procession oar-testbed"
    echo "$rest"
  } >"$sc.new"
  mv "$sc.new" "$sc"; chown oar:oar "$sc"
  {
    grep -v -E '^(Port|UsePrivilegeSeparation|KeepAlive|ListenAddress|PidFile)' /etc/oar/sshd_config
    for k in 0 1; do for i in $(seq 1 "$NODES"); do echo "ListenAddress $(node_addr $k "$i"):6667"; done; done
    echo "ListenAddress $NET.0.254:6667"
    echo "PidFile $TB/node-sshd.pid"
    echo "Subsystem sftp /usr/lib/openssh/sftp-server"
  } >"$TB/node_sshd_config"
  id "$TEST_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$TEST_USER"
  usermod -p '*' "$TEST_USER"   # not locked ("!"), which sshd refuses even for keys
  # the "frontend": an sshd on $FRONTEND:$FRONTEND_PORT where $TEST_USER logs in with
  # $TB/frontend_key (OAR refuses jobs from root and oar, as on Grid'5000's frontends)
  [ -f "$TB/frontend_key" ] || ssh-keygen -q -t ed25519 -N '' -C procession-oar -f "$TB/frontend_key"
  [ -f "$TB/frontend_host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$TB/frontend_host_key"
  install -d -o "$TEST_USER" -g "$TEST_USER" -m 700 "$(eval echo ~"$TEST_USER")/.ssh"
  install -o "$TEST_USER" -g "$TEST_USER" -m 600 "$TB/frontend_key.pub" "$(eval echo ~"$TEST_USER")/.ssh/authorized_keys"
  cat >"$TB/frontend_sshd_config" <<CONF
ListenAddress $FRONTEND:$FRONTEND_PORT
HostKey $TB/frontend_host_key
PidFile $TB/frontend-sshd.pid
AllowUsers $TEST_USER
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
CONF
  # properties: site and cluster stand for Grid'5000's; one queue per site too
  local p props
  props=$(oarproperty -l)  # not piped into grep -q: SIGPIPE + pipefail would misreport
  for p in cluster host site; do grep -qx "$p" <<<"$props" || oarproperty -a "$p" -c; done
  for p in cpu core; do grep -qx "$p" <<<"$props" || oarproperty -a "$p"; done
  if [ "$(psql_admin -d oar -c "select count(*) from resources")" = 0 ]; then
    local rid=0 c
    for k in 0 1; do for i in $(seq 1 "$NODES"); do for c in $(seq 0 $((CORES - 1))); do
      rid=$((rid + 1))
      oarnodesetting -a -h "$(node_name $k "$i")" -p cluster="${CLUSTERS[$k]}" \
        -p host="$(node_name $k "$i")" -p site="${SITES[$k]}" \
        -p cpu="$((k * 100 + i))" -p core="$rid" -p cpuset="$c" -p deploy=YES >/dev/null
    done; done; done
  fi
  # Testbeds set up when site B was nancy/gros: rename the nodes in place (the
  # cpu property identifies a node), so that old databases converge too.
  for k in 0 1; do for i in $(seq 1 "$NODES"); do
    psql_admin -d oar -c "update resources set network_address='$(node_name $k "$i")',
      host='$(node_name $k "$i")', cluster='${CLUSTERS[$k]}', site='${SITES[$k]}'
      where cpu=$((k * 100 + i)) and network_address<>'$(node_name $k "$i")'" >/dev/null
  done; done
  # accept the Grid'5000-only job types too (vanilla admission rule rejects them)
  psql_admin -d oar -c "update admission_rules set rule = replace(rule, 'qr/^state=permissive\$/,',
    'qr/^state=permissive\$/, qr/^(?:allow_classic_ssh|night|day|exotic|destructive|heterogeneous)\$/,')
    where rule like '%unknown job type%' and rule not like '%allow_classic_ssh%'" >/dev/null
  log "setup done: $(psql_admin -d oar -c 'select count(*) from resources') resources"
}

node_sshd_running() { [ -f "$TB/node-sshd.pid" ] && kill -0 "$(cat "$TB/node-sshd.pid")" 2>/dev/null; }
frontend_sshd_running() { [ -f "$TB/frontend-sshd.pid" ] && kill -0 "$(cat "$TB/frontend-sshd.pid")" 2>/dev/null; }
server_running() { [ -f /var/run/oar-server.pid ] && kill -0 "$(cat /var/run/oar-server.pid)" 2>/dev/null; }

cmd_start() {
  pg_start
  mkdir -p /var/run/sshd
  node_sshd_running || /usr/sbin/sshd -f "$TB/node_sshd_config" -E "$TB/node-sshd.log"
  frontend_sshd_running || /usr/sbin/sshd -f "$TB/frontend_sshd_config" -E "$TB/frontend-sshd.log"
  if ! server_running; then
    touch /var/log/oar.log; chown oar /var/log/oar.log
    /usr/sbin/oar-server   # forks Almighty as user oar, writes /var/run/oar-server.pid
  fi
  local ok=""
  for _ in $(seq 100); do
    if ss -ltn 'sport = :6666' | grep -q LISTEN; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { log "Almighty does not listen on 6666"; exit 1; }
  log "started: pg $(head -1 "$TB/pg/postmaster.pid"), node sshd $(cat "$TB/node-sshd.pid"), Almighty $(cat /var/run/oar-server.pid)"
}

cmd_stop() {
  if server_running; then
    # running jobs live in oarexec processes detached from Almighty: delete them first
    local jobs; jobs=$(oarstat | awk 'NR>2 {print $1}')
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      oardel $jobs >/dev/null 2>&1 || true
      for _ in $(seq 100); do [ -z "$(oarstat | awk 'NR>2')" ] && break; sleep 0.2; done
    fi
    local pid; pid=$(cat /var/run/oar-server.pid)
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f /var/run/oar-server.pid
  fi
  local left; left=$(pgrep -u oar -f 'OAREXEC' || true)
  # shellcheck disable=SC2086
  if [ -n "$left" ]; then kill $left 2>/dev/null || true; fi
  if node_sshd_running; then kill "$(cat "$TB/node-sshd.pid")"; rm -f "$TB/node-sshd.pid"; fi
  if frontend_sshd_running; then kill "$(cat "$TB/frontend-sshd.pid")"; rm -f "$TB/frontend-sshd.pid"; fi
  pg_stop
  log stopped
}

cmd_status() {
  if pg_running; then echo "postgres: up"; else echo "postgres: down"; fi
  if node_sshd_running; then echo "node sshd: up"; else echo "node sshd: down"; fi
  if frontend_sshd_running; then echo "frontend sshd: up"; else echo "frontend sshd: down"; fi
  if server_running; then echo "Almighty: up"; oarnodes -s; else echo "Almighty: down"; fi
}

# --- OAR REST API: what Grid'5000's /sites/{site}/jobs talks to ------------------
# A private apache2 running as user oar (so oarapi.cgi needs no suexec), plain
# mod_cgi, on 127.0.0.1:$API_PORT. Identity: the API trusts the X-Remote-Ident
# header (API_TRUST_IDENT defaults to 1), as Grid'5000's front proxy sets it.
API_PORT=${OAR_API_PORT:-6668}
api_running() { [ -f "$TB/apache/apache.pid" ] && kill -0 "$(cat "$TB/apache/apache.pid")" 2>/dev/null; }

cmd_api_start() {
  mkdir -p "$TB/apache"
  local m=/usr/lib/apache2/modules
  cat >"$TB/apache/apache.conf" <<CONF
ServerName localhost
PidFile $TB/apache/apache.pid
DefaultRuntimeDir $TB/apache
ErrorLog $TB/apache/error.log
LogFormat "%h %u %t \"%r\" %>s %b %D" common
CustomLog $TB/apache/access.log common
Listen 127.0.0.1:$API_PORT
User oar
Group oar
LoadModule mpm_prefork_module $m/mod_mpm_prefork.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule authz_host_module $m/mod_authz_host.so
LoadModule alias_module $m/mod_alias.so
LoadModule cgi_module $m/mod_cgi.so
LoadModule env_module $m/mod_env.so
StartServers 2
MinSpareServers 1
MaxSpareServers 4
ScriptAlias /oarapi /usr/lib/cgi-bin/oarapi/oarapi.cgi
<Directory /usr/lib/cgi-bin/oarapi>
  Options +ExecCGI
  Require local
  SetEnv OARCONFFILE /etc/oar/oar.conf
</Directory>
CONF
  api_running || /usr/sbin/apache2 -f "$TB/apache/apache.conf" -k start
  local ok=""
  for _ in $(seq 100); do
    if curl -sf -o /dev/null "http://127.0.0.1:$API_PORT/oarapi/version.json"; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { log "the OAR API does not answer on port $API_PORT"; exit 1; }
  log "OAR API on http://127.0.0.1:$API_PORT/oarapi (apache $(cat "$TB/apache/apache.pid"))"
}

cmd_api_stop() {
  if api_running; then
    local pid; pid=$(cat "$TB/apache/apache.pid")
    kill -TERM "$pid"   # apache's parent stops its children itself
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}

cmd_clean() {
  cmd_api_stop
  cmd_stop
  [ -f "$TB/oar.conf.orig" ] && cp -p "$TB/oar.conf.orig" "$OARCONF"
  sed -i "/^# BEGIN procession/,/^# END procession/d" /var/lib/oar/.ssh/config
  rm -rf "$TB"
}

case ${1:-} in
  install) cmd_install ;;
  setup) cmd_setup ;;
  start) cmd_start ;;
  up) cmd_install; cmd_setup; cmd_start ;;
  stop) cmd_api_stop; cmd_stop ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  api-start) cmd_api_start ;;
  api-stop) cmd_api_stop ;;
  env) printf 'TB=%s\nOAR_API=http://127.0.0.1:%s/oarapi\nFRONTEND=%s\nFRONTEND_PORT=%s\nFRONTEND_USER=%s\nFRONTEND_KEY=%s\nNODE_KEY=%s\nHOSTS_FILE=%s\n' \
    "$TB" "$API_PORT" "$FRONTEND" "$FRONTEND_PORT" "$TEST_USER" "$TB/frontend_key" /var/lib/oar/.ssh/id_rsa "$TB/hosts" ;;
  *) echo "usage: $0 install|setup|start|up|stop|status|clean|env|api-start|api-stop" >&2; exit 2 ;;
esac
