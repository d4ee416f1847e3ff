#!/usr/bin/env bash
# OpenGateway installer: puts the `opengateway` command on the PATH, then hands over to
# `opengateway setup`. Run it either way:
#   ./install.sh                      (from a checkout: uses that checkout)
#   curl -fsSL <url>/install.sh | OPENGATEWAY_REPO=<git URL> bash
# No public repository or download URL is published yet: a piped install clones OPENGATEWAY_REPO,
# which has no default until one is.
# It never uses sudo: everything goes under $HOME. Running it again upgrades, or does nothing.
#
# Settings (environment):
#   OPENGATEWAY_REPO        git URL a piped install clones (no default yet)
#   OPENGATEWAY_SOURCE_DIR  the checkout to install from (default: this script's checkout, or
#                           ~/.opengateway/src, cloned from OPENGATEWAY_REPO)
#   OPENGATEWAY_BIN_DIR     where the `opengateway` command goes (default: ~/.local/bin)
#   OPENGATEWAY_NO_SETUP=1  do not start `opengateway setup` afterwards (same as --no-setup)
set -euo pipefail

REPO="${OPENGATEWAY_REPO:-}"
BIN_DIR="${OPENGATEWAY_BIN_DIR:-$HOME/.local/bin}"
PNPM="pnpm@12.4.2"
NODE_MIN_MAJOR=20
PROFILE_MARK="# added by the OpenGateway installer"
RUN_SETUP="${OPENGATEWAY_NO_SETUP:-0}"

say() { printf '%s\n' "$*"; }
fail() {
  printf 'opengateway install: %s\n' "$*" >&2
  exit 1
}

for arg in "$@"; do
  case "$arg" in
    --no-setup) RUN_SETUP=1 ;;
    -h | --help)
      sed -n '2,15p' "${BASH_SOURCE[0]:-/dev/null}" 2>/dev/null | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) fail "unknown option '$arg' (options: --no-setup, --help)" ;;
  esac
done

# --- the system -------------------------------------------------------------------------------
detect_os() {
  case "$(uname -s)" in
    Linux)
      if grep -qi microsoft /proc/version 2>/dev/null; then echo wsl; else echo linux; fi
      ;;
    Darwin) echo macos ;;
    MINGW* | MSYS* | CYGWIN*) fail "on Windows, run this inside WSL2 (wsl --install, then open Ubuntu)" ;;
    *) fail "unsupported system '$(uname -s)': OpenGateway runs on Linux, macOS and Windows under WSL2" ;;
  esac
}

detect_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) fail "unsupported processor '$(uname -m)': OpenGateway runs on x86-64 and ARM64" ;;
  esac
}

# The command that installs a recent Node.js here, for the failure message.
node_fix() {
  if [ "$1" = macos ]; then
    echo "brew install node@22 && brew link --overwrite node@22   (Homebrew: https://brew.sh)"
  elif command -v apt-get >/dev/null 2>&1; then
    echo "curl -fsSL https://deb.nodesource.com/setup_22.x | sudo -E bash - && sudo apt-get install -y nodejs"
  elif command -v dnf >/dev/null 2>&1; then
    echo "sudo dnf install -y nodejs22"
  elif command -v pacman >/dev/null 2>&1; then
    echo "sudo pacman -S --needed nodejs npm"
  elif command -v apk >/dev/null 2>&1; then
    echo "sudo apk add nodejs npm"
  else
    echo "install Node.js 22 from https://nodejs.org/en/download"
  fi
}

check_node() {
  local os="$1" fix major
  fix="$(node_fix "$os")"
  local nvm="or, without sudo: curl -o- https://raw.githubusercontent.com/nvm-sh/nvm/v0.40.1/install.sh | bash && nvm install 22"
  command -v node >/dev/null 2>&1 || fail "Node.js ${NODE_MIN_MAJOR} or newer is needed and none was found: ${fix}   ${nvm}"
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  case "$major" in '' | *[!0-9]*) major=0 ;; esac
  if [ "$major" -lt "$NODE_MIN_MAJOR" ]; then
    fail "Node.js ${NODE_MIN_MAJOR} or newer is needed, this is $(node --version 2>/dev/null || echo 'an unknown version'): ${fix}   ${nvm}"
  fi
  command -v npx >/dev/null 2>&1 || fail "npx (part of npm) is needed to fetch pnpm: install npm with Node.js: ${fix}"
}

# --- the source ---------------------------------------------------------------------------------
# A checkout this script lives in; empty when it is piped from curl.
script_checkout() {
  local source="${BASH_SOURCE[0]:-}" dir
  [ -n "$source" ] && [ -f "$source" ] || return 0
  dir="$(cd "$(dirname "$source")" && pwd)"
  if [ -f "$dir/packages/cli/package.json" ]; then echo "$dir"; fi
}

# Clones the repository, or brings an earlier clone up to date; prints the checkout.
fetch_source() {
  local dir="$HOME/.opengateway/src"
  [ -n "$REPO" ] || [ -d "$dir/.git" ] || fail "no OpenGateway repository is published yet: run ./install.sh from a checkout, or set OPENGATEWAY_REPO to the git URL to install from"
  command -v git >/dev/null 2>&1 || fail "git is needed to download OpenGateway: install it with your package manager (e.g. sudo apt-get install -y git), or run install.sh from a checkout"
  if [ -d "$dir/.git" ]; then
    git -C "$dir" pull --ff-only --quiet >&2 || fail "could not update $dir (local changes?): fix it, or delete it and run the installer again"
  else
    mkdir -p "$(dirname "$dir")"
    git clone --depth 1 --quiet "$REPO" "$dir" >&2 || fail "could not clone $REPO: check the network, or set OPENGATEWAY_REPO"
  fi
  echo "$dir"
}

# Installs the dependencies and builds, when the checkout changed since the last build.
build() {
  local dir="$1" stamp="$1/.opengateway-installed" revision
  revision="$(git -C "$dir" rev-parse HEAD 2>/dev/null || echo unversioned)"
  if [ -f "$dir/packages/cli/dist/bin.js" ] && [ -d "$dir/node_modules" ] && { [ ! -f "$stamp" ] || [ "$(cat "$stamp")" = "$revision" ]; }; then
    say "  build      up to date ($dir)"
    return
  fi
  say "  build      installing dependencies and building in $dir (a few minutes the first time) ..."
  (cd "$dir" && npx -y "$PNPM" install --frozen-lockfile && npx -y "$PNPM" build) >&2 || fail "the build failed in $dir: run 'npx -y $PNPM install && npx -y $PNPM build' there to see why"
  echo "$revision" >"$stamp"
}

# --- the command --------------------------------------------------------------------------------
install_command() {
  local dir="$1" target="$BIN_DIR/opengateway" wrapper
  wrapper="$(printf '#!/bin/sh\n# The OpenGateway CLI (written by install.sh; run it again to upgrade).\nexec "%s" "%s" "$@"\n' "$(command -v node)" "$dir/packages/cli/dist/bin.js")"
  mkdir -p "$BIN_DIR"
  if [ -f "$target" ] && [ "$(cat "$target")" = "$wrapper" ]; then
    say "  command    $target (unchanged)"
  else
    printf '%s\n' "$wrapper" >"$target"
    chmod 755 "$target"
    say "  command    $target"
  fi
}

# Puts BIN_DIR on the PATH of new shells, once.
add_to_path() {
  case ":$PATH:" in *":$BIN_DIR:"*) return ;; esac
  local line="export PATH=\"$BIN_DIR:\$PATH\" $PROFILE_MARK" file added=""
  for file in "$HOME/.profile" "$HOME/.bashrc" "$HOME/.zshrc"; do
    # .profile always (login shells read it); the others where the user has them.
    [ "$file" = "$HOME/.profile" ] || [ -f "$file" ] || continue
    if ! grep -qF "$PROFILE_MARK" "$file" 2>/dev/null; then
      printf '\n%s\n' "$line" >>"$file"
      added="$added ${file/#$HOME/\~}"
    fi
  done
  [ -z "$added" ] || say "  PATH       $BIN_DIR added in$added: open a new terminal, or run: export PATH=\"$BIN_DIR:\$PATH\""
}

main() {
  local os arch dir
  os="$(detect_os)"
  arch="$(detect_arch)"
  say "Installing OpenGateway"
  say "  system     $os $arch"
  check_node "$os"
  say "  node       $(node --version)"
  dir="${OPENGATEWAY_SOURCE_DIR:-$(script_checkout)}"
  [ -n "$dir" ] || dir="$(fetch_source)"
  [ -f "$dir/packages/cli/package.json" ] || fail "$dir is not an OpenGateway checkout"
  build "$dir"
  install_command "$dir"
  add_to_path
  say "Installed: $("$BIN_DIR/opengateway" --version)"
  if [ "$RUN_SETUP" != 1 ] && (: </dev/tty) 2>/dev/null; then
    say ""
    "$BIN_DIR/opengateway" setup </dev/tty
  else
    say "Next: opengateway setup   (profiles this machine, picks a model, registers; then: opengateway node start)"
  fi
}

main
