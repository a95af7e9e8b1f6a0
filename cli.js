#!/usr/bin/env node
'use strict'
// The `pid-guard` command. Each command lives in lib/cli/<command>.js and exports
// { summary, usage, run(argv) -> exit code (or a Promise of one) }.

const { writeOut, writeErr, UsageError } = require('./lib/cli/output')

const COMMANDS = ['check', 'status', 'list', 'health', 'run', 'stop', 'prune']

function help() {
  const lines = COMMANDS.map((c) => `  ${c.padEnd(8)} ${require(`./lib/cli/${c}`).summary}`)
  return [
    'Usage: pid-guard <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options for every command: --dir DIR (or PID_GUARD_DIR), --help',
    'pid-guard --version prints the version.',
    '',
  ].join('\n')
}

async function main(argv) {
  const [cmd, ...rest] = argv
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    writeOut(help())
    return cmd === undefined ? 2 : 0
  }
  if (cmd === '--version' || cmd === '-v') {
    writeOut(require('./package.json').version + '\n')
    return 0
  }
  if (!COMMANDS.includes(cmd)) {
    writeErr(`pid-guard: unknown command "${cmd}"\n\n${help()}`)
    return 2
  }
  const command = require(`./lib/cli/${cmd}`)
  // `--` ends pid-guard's options: `run backup -- pg_dump -h db` passes -h to pg_dump.
  const end = rest.indexOf('--')
  const own = end === -1 ? rest : rest.slice(0, end)
  if (own.includes('--help') || own.includes('-h')) {
    writeOut(command.usage)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (err) {
    if (err instanceof UsageError || err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err?.code?.startsWith?.('ERR_PARSE_ARGS')) {
      writeErr(`pid-guard ${cmd}: ${err.message}\n\n${command.usage}`)
      return 2
    }
    if (err?.name === 'PidGuardError') {
      writeErr(`${err.message}\n`)
      return err.code === 'EINVALIDNAME' || err.code === 'EINVALIDOPTION' ? 2 : 1
    }
    throw err
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    // The addon could not be loaded (wherever the first require happened): its message is
    // the fix, so print just that.
    writeErr(err?.code === 'ENOBINARY' ? `${err.message}\n` : `pid-guard: unexpected error: ${err?.stack ?? err}\n`)
    process.exitCode = 1
  },
)
