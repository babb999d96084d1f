# Sourced by ./tandem and .ci/run: points JAVA_HOME at a JDK 25, or says clearly that none was found.
tandem_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -n 1
}
tandem_select_jdk() {
  local candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  candidates+=(/usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk-arm64 /usr/lib/jvm/java-25-openjdk-amd64
               /usr/lib/jvm/java-25-openjdk-arm64 /usr/lib/jvm/jdk-25*)
  local d
  for d in "${candidates[@]}"; do
    if [ -x "$d/bin/java" ] && [ -x "$d/bin/javac" ] && [ "$(tandem_java_major "$d")" = "25" ]; then
      export JAVA_HOME="$d"
      export PATH="$JAVA_HOME/bin:$PATH"
      # Maven 3.9's Guice calls sun.misc.Unsafe, which JDK 25 warns about on every build.
      case " ${MAVEN_OPTS:-} " in
        *sun-misc-unsafe*) ;;
        *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;;
      esac
      return 0
    fi
  done
  echo "tandem: no JDK 25 found (looked at \$JAVA_HOME and /usr/lib/jvm/temurin-25-jdk-amd64, java-25-openjdk-*)." >&2
  echo "tandem: install Temurin 25 or OpenJDK 25 and set JAVA_HOME to it." >&2
  return 1
}
