// Mocha's spec reporter, plus the closing line CI reads: "N passed, N failed".
const Mocha = require('mocha')
const { EVENT_RUN_END } = Mocha.Runner.constants

class GroveReporter extends Mocha.reporters.Spec {
  constructor (runner, options) {
    super(runner, options)
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = runner.stats ?? {}
      // Spec's epilogue listens for EVENT_RUN_END too, and was registered first (in super()), so this line comes
      // after it. Synchronously: with --exit, mocha exits right after the run ends.
      console.log(`${passes} passed, ${failures} failed${pending > 0 ? `, ${pending} skipped` : ''}`)
    })
  }
}
module.exports = GroveReporter
