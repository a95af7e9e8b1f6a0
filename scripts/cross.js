'use strict'
// Cross-target helpers shared by the lint (clippy for every target) and the Windows test run.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')

/**
 * napi-build looks for libnode when targeting windows-gnu, even with `dyn-symbols` (the addon
 * resolves Node's symbols at load time): an empty import library and an empty dll satisfy it.
 * Returns the folder to put in LIBNODE_PATH.
 */
function fakeLibnode() {
  const dir = path.join(ROOT, 'target', 'lint-libnode')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'libnode.a'), '!<arch>\n')
  fs.writeFileSync(path.join(dir, 'libnode.dll'), '')
  return dir
}

/**
 * The core's TLS (rustls over ring) compiles a little C for every target, so checking another
 * target needs a C compiler for it even though nothing links. clang targets them all; its own
 * freestanding headers plus the few libc declarations ring's C uses (stubbed here: the objects
 * are only built for the check, never linked or run) stand in for each platform's SDK.
 * Returns the environment for cargo, installing Debian's clang when it is missing and we are root.
 */
function crossCcEnv(targets) {
  const has = (c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0
  if (!has('clang')) {
    if (process.getuid?.() === 0 && has('apt-get')) {
      process.stderr.write('lint: installing clang (apt-get) to compile ring\'s C for the cross-target checks\n')
      const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'clang'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      })
      if (r.status !== 0) spawnSync('apt-get', ['update'], { stdio: 'ignore' })
      if (r.status !== 0) spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'clang'], { stdio: 'inherit' })
    }
    if (!has('clang')) throw new Error('clang is needed for the cross-target checks (ring compiles C): apt-get install clang, or run lint with --fast')
  }
  const dir = path.join(ROOT, 'target', 'lint-cc-stubs')
  fs.mkdirSync(dir, { recursive: true })
  const stubs = {
    'TargetConditionals.h': '#define TARGET_OS_IPHONE 0\n#define TARGET_OS_OSX 1\n#define TARGET_OS_MAC 1\n',
    'assert.h': '#define assert(x) ((void)0)\n',
    'string.h': '#include <stddef.h>\nvoid *memcpy(void *, const void *, size_t);\nvoid *memmove(void *, const void *, size_t);\nvoid *memset(void *, int, size_t);\nint memcmp(const void *, const void *, size_t);\n',
    'stdlib.h': '#include <stddef.h>\nunsigned long _byteswap_ulong(unsigned long);\nunsigned long long _byteswap_uint64(unsigned long long);\n',
  }
  for (const [f, text] of Object.entries(stubs)) fs.writeFileSync(path.join(dir, f), text)
  const resource = spawnSync('clang', ['-print-resource-dir'], { encoding: 'utf8' }).stdout.trim()
  const flags = `-ffreestanding -nostdinc -isystem ${path.join(resource, 'include')} -I${dir}`
  const ar = has('llvm-ar') ? 'llvm-ar' : 'ar'
  const env = {}
  for (const t of targets) {
    const u = t.replace(/-/g, '_')
    env[`CC_${u}`] = 'clang'
    env[`CFLAGS_${u}`] = flags
    env[`AR_${u}`] = ar
  }
  return env
}

module.exports = { ROOT, fakeLibnode, crossCcEnv }
