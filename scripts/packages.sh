# Sourced by scripts/install-deps and scripts/lab: Debian packages by the binaries they bring,
# and the Node.js the plugin needs. Root on Debian/Ubuntu.

# apt_install PACKAGE...: installs them with apt-get, quietly.
apt_install() {
  echo "installing: $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# install_missing BINARY=PACKAGE...: installs the packages of the binaries not on PATH, and
# only those (a host's own Node.js 20 may come from a package that conflicts with Debian's npm).
install_missing() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
  done
  ((${#missing[@]})) || return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  apt_install "${missing[@]}"
}

# require_node_20: fails with a message on an older Node.js (package.json engines). Debian 12's
# and Ubuntu 24.04's own nodejs is 18.
require_node_20() {
  (($(node -p 'process.versions.node.split(".")[0]') >= 20)) && return 0
  echo "Node.js $(node --version) is installed; ts-overlay needs Node.js >= 20 (package nodejs of Debian 13, or a nodejs 20 package from your apt sources)" >&2
  return 1
}
