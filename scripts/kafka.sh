#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: broker and controller in one JVM) on loopback, for
# sluice::kafka's tests and for trying the Kafka examples locally.
#
#   scripts/kafka.sh start [--dir DIR] [--fresh]   start (or restart) the broker
#   scripts/kafka.sh stop  [--dir DIR]             stop it (SIGTERM, then SIGKILL after 20 s)
#   scripts/kafka.sh kill  [--dir DIR]             stop it at once (SIGKILL)
#   scripts/kafka.sh status [--dir DIR]            print the bootstrap address if it runs
#
# DIR (default build/kafka/run) holds the configuration, the data, the log (broker.log) and:
#   bootstrap        the PLAINTEXT listener, host:port (printed by start)
#   sasl_bootstrap   a SASL_SSL listener (PLAIN) with a self-signed certificate for
#                    127.0.0.1/localhost; the CA is ca.pem, the users are in users.txt
#                    ("user password" per line: "$ConnectionString" with an Event Hubs-style
#                    connection string as its password, and "sluice" / "sluice-secret")
# The first start picks free ports, formats the storage and writes the certificates; a later
# start in the same DIR reuses them (a restart keeps the topics and offsets). --fresh wipes
# DIR first. The jars come from scripts/deps/40-kafka.sh (build/kafka/<version>/libs).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${SLUICE_KAFKA_VERSION:-3.9.1}"
libs="$repo/build/kafka/$version/libs"
cmd="${1:-}"
shift || true
dir="$repo/build/kafka/run"
fresh=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    *) echo "kafka.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

running() {
  [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop_broker() {
  local signal="$1" pid
  running || { rm -f "$dir/pid"; return 0; }
  pid="$(cat "$dir/pid")"
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$dir/pid"
}

write_certificates() {
  # A CA, and a server certificate it signs whose SAN names 127.0.0.1 and localhost
  # (librdkafka checks the host name), as the PKCS12 keystore the broker reads.
  local d="$dir/tls"
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sluice test CA" \
    -keyout "$d/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$dir/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3650 -extfile "$d/san.ext" -out "$d/server.pem" >/dev/null 2>&1
  openssl pkcs12 -export -in "$d/server.pem" -inkey "$d/server.key" -certfile "$dir/ca.pem" \
    -name broker -passout pass:sluice-keystore -out "$d/server.p12" >/dev/null 2>&1
}

configure() {
  local plain controller sasl connection_string
  plain="$(free_port)"; controller="$(free_port)"; sasl="$(free_port)"
  while [[ "$controller" == "$plain" ]]; do controller="$(free_port)"; done
  while [[ "$sasl" == "$plain" || "$sasl" == "$controller" ]]; do sasl="$(free_port)"; done
  write_certificates
  connection_string="Endpoint=sb://sluice-test.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2x1aWNlLXRlc3Qta2V5"
  printf '%s %s\n' '$ConnectionString' "$connection_string" > "$dir/users.txt"
  printf '%s %s\n' sluice sluice-secret >> "$dir/users.txt"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$plain,CONTROLLER://127.0.0.1:$controller,SASL_SSL://127.0.0.1:$sasl
advertised.listeners=PLAINTEXT://127.0.0.1:$plain,SASL_SSL://127.0.0.1:$sasl
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_\$ConnectionString="$connection_string" user_sluice="sluice-secret";
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/server.p12
ssl.keystore.password=sluice-keystore
ssl.key.password=sluice-keystore
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
log.retention.check.interval.ms=1000
log.segment.delete.delay.ms=1000
PROPS
  cat > "$dir/log4j.properties" <<PROPS
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
PROPS
  echo "127.0.0.1:$plain" > "$dir/bootstrap"
  echo "127.0.0.1:$sasl" > "$dir/sasl_bootstrap"
  java -cp "$libs/*" -Dlog4j.configuration="file:$dir/log4j.properties" kafka.tools.StorageTool format \
    -t "$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')" \
    -c "$dir/server.properties" > "$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; exit 1; }
}

start_broker() {
  if running; then
    cat "$dir/bootstrap"
    return 0
  fi
  if [[ ! -d "$libs" ]]; then
    bash "$repo/scripts/deps/40-kafka.sh"
  fi
  [[ -d "$libs" ]] || { echo "kafka.sh: no Kafka jars in $libs (scripts/deps/40-kafka.sh)" >&2; exit 1; }
  [[ -f "$dir/server.properties" ]] || configure
  local port
  port="$(cut -d: -f2 < "$dir/bootstrap")"
  # Each start has a log of its own (the one before is broker.log.1), read for "started".
  [[ -f "$dir/broker.log" ]] && mv "$dir/broker.log" "$dir/broker.log.1"
  # setsid: the broker outlives the shell that started it (CTest fixtures, scripts).
  setsid java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$libs/*" \
    kafka.Kafka "$dir/server.properties" >> "$dir/broker.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  for _ in $(seq 1 600); do
    if ! running; then
      echo "kafka.sh: the broker exited; its log:" >&2
      tail -n 40 "$dir/broker.log" >&2
      exit 1
    fi
    if port_open "$port" && grep -q "BrokerServer id=1\] Transition from STARTING to STARTED" "$dir/broker.log"; then
      cat "$dir/bootstrap"
      return 0
    fi
    sleep 0.1
  done
  echo "kafka.sh: the broker did not start within 60 s; its log:" >&2
  tail -n 40 "$dir/broker.log" >&2
  stop_broker KILL
  exit 1
}

case "$cmd" in
  start)
    if [[ "$fresh" == 1 ]]; then
      stop_broker KILL
      rm -rf "$dir"
      mkdir -p "$dir"
    fi
    start_broker ;;
  stop) stop_broker TERM ;;
  kill) stop_broker KILL ;;
  status)
    if running; then cat "$dir/bootstrap"; else echo "kafka.sh: not running" >&2; exit 1; fi ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
