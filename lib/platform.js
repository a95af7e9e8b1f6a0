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

/**
 * The ENOBINARY message, one wording for the addon (lib/native.js) and the command's launcher
 * (bin/pid-guard): what is missing for this machine, why, where it ships and how to get it.
 */
function noBinaryMessage(what, reason) {
  const id = platformId()
  return (
    `pid-guard: no native binary for ${id} could be loaded for ${what} (${reason}).\n` +
    `It ships in the optional dependency @pid-guard/binding-${id}. ` +
    'Reinstall without --omit=optional / --no-optional, or delete node_modules and package-lock.json and run npm install again. ' +
    'Supported: linux x64/arm64 (glibc, musl), macOS x64/arm64, Windows x64.'
  )
}

module.exports = { platformId, BIN_NAME, noBinaryMessage }
