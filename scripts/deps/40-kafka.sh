#!/usr/bin/env bash
# Apache Kafka for the Kafka component's tests (sluice::kafka) and for scripts/kafka.sh:
# org.apache.kafka:kafka_2.13 and its runtime jars (plus slf4j-reload4j, without which the
# broker logs nothing) copied by Maven into build/kafka/<version>/libs, once; later runs find
# them there. Needs java and mvn (Debian's default-jre-headless and maven).
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-3.9.1}"
dest="$SLUICE_REPO/build/kafka/$KAFKA_VERSION"
if [[ -f "$dest/.complete" ]]; then
  exit 0
fi
for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "deps: kafka: '$tool' not found (apt-get install default-jre-headless maven); the Kafka broker is not fetched" >&2
    exit 0
  fi
done
echo "deps: Apache Kafka $KAFKA_VERSION jars into $dest/libs (Maven)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
rm -rf "$dest"
mkdir -p "$dest"
mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
  -DoutputDirectory="$dest/libs"
touch "$dest/.complete"
echo "deps: kafka: $(ls "$dest/libs" | wc -l) jars"
