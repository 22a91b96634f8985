// Reads one Green Button document with @cityssm/green-button-parser and prints, as JSON,
// what it found: entries, the content kinds of each, the IntervalReadings of every
// IntervalBlock (count and sum of values) and every RIN-shaped string in the contents.
// A crash is printed as {"error": ...} with exit status 1.
// Used by tests/integration/test_parsers_interop.py: node read.mjs FILE
import { readFile } from 'node:fs/promises'
import { atomToGreenButtonJson } from '@cityssm/green-button-parser'

const RIN = /US[A-Z]{2}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{1,10}/g

try {
  const json = await atomToGreenButtonJson(await readFile(process.argv[2], 'utf8'))
  let readings = 0
  let valueSum = 0
  const kinds = []
  const rins = []
  for (const entry of json.entries) {
    const content = entry.content ?? {}
    kinds.push(...Object.keys(content))
    for (const block of content.IntervalBlock ?? []) {
      for (const reading of block.IntervalReading ?? []) {
        readings += 1
        valueSum += Number(reading.value)
      }
    }
    rins.push(...(JSON.stringify(content).match(RIN) ?? []))
  }
  console.log(JSON.stringify({ entries: json.entries.length, kinds, readings, valueSum, rins }))
} catch (error) {
  console.log(JSON.stringify({ error: `${error.name}: ${error.message}` }))
  process.exit(1)
}
