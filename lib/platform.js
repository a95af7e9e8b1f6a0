'use strict'
// This machine's platform package name, as napi-rs names them: linux-x64-gnu, darwin-arm64,
// win32-x64-msvc. Shared by the addon loader (lib/native.js), the command's launcher and
// install step, and the build scripts.

function platformId() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.()?.header?.glibcVersionRuntime
    return `${platform}-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `${platform}-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The native command's file name on this OS. */
const BIN_NAME = process.platform === 'win32' ? 'pid-guard.exe' : 'pid-guard'

module.exports = { platformId, BIN_NAME }
