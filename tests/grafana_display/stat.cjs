// What a Grafana stat panel shows, computed by Grafana's own code (@grafana/data).
//
// Reads from stdin one case per line, {"panel": <stat panel JSON>, "series": [<graphite-web /render
// JSON series: {"target", "datapoints": [[value, seconds], ...]}>]}, and answers each with one line
// on stdout: a JSON list with one entry per value the panel shows, {"title", "text", "numeric",
// "color"} ("color" is the theme colour's name, e.g. "green", or its hex when it has no name).
// tests/grafana_display.py keeps one such process per test session.
//
// The steps are the ones Grafana runs in the browser:
// 1. the Graphite datasource turns each series into a data frame (datasource.ts,
//    convertResponseToDataFrames: title = target, seconds -> ms, toDataFrame);
// 2. the query runner applies the panel's field config (applyFieldOverrides: thresholds, mappings,
//    noValue, unit, the display processor);
// 3. the stat panel reduces each field and formats it (getFieldDisplayValues with the panel's
//    reduceOptions), and paints the background with the display's colour.
//
// @grafana/data expects a few browser globals: addEventListener, localStorage and (before Node 21)
// navigator are enough. No `window`: with one, react-use (a dependency of 13.x) believes it runs in
// a browser and reaches for `document`.
globalThis.addEventListener = () => {};
globalThis.localStorage = { getItem: () => null, setItem() {}, removeItem() {} };
if (typeof globalThis.navigator === 'undefined') globalThis.navigator = { language: 'en-US', languages: ['en-US'] };

const data = require('@grafana/data');

const theme = data.createTheme();

// The standard field options as Grafana's core registers them at start-up
// (public/app/core/components/OptionsUI/registry.tsx, getAllStandardFieldConfigs): the ids, paths,
// processors and shouldApply rules applyFieldOverrides uses to put a panel's defaults on each field.
// @grafana/data ships the processors and an empty registry; the editors (React) are left out.
const isNumber = (field) => field.type === data.FieldType.number;
const always = () => true;
const fieldConfigRegistry = new data.FieldConfigOptionsRegistry(() => [
  { id: 'unit', path: 'unit', process: data.stringOverrideProcessor, shouldApply: always, settings: {} },
  { id: 'min', path: 'min', process: data.numberOverrideProcessor, shouldApply: isNumber, settings: {} },
  { id: 'max', path: 'max', process: data.numberOverrideProcessor, shouldApply: isNumber, settings: {} },
  { id: 'decimals', path: 'decimals', process: data.numberOverrideProcessor, shouldApply: isNumber, settings: {} },
  { id: 'displayName', path: 'displayName', process: data.displayNameOverrideProcessor, shouldApply: always,
    settings: {} },
  { id: 'color', path: 'color', process: data.identityOverrideProcessor, shouldApply: always,
    settings: { byValueSupport: true, preferThresholdsMode: true } },
  { id: 'noValue', path: 'noValue', process: data.stringOverrideProcessor, shouldApply: always, settings: {} },
  { id: 'links', path: 'links', process: data.dataLinksOverrideProcessor, shouldApply: always, settings: {} },
  { id: 'mappings', path: 'mappings', process: data.valueMappingsOverrideProcessor,
    shouldApply: (field) => field.type !== data.FieldType.time, settings: {}, defaultValue: [] },
  { id: 'thresholds', path: 'thresholds', process: data.thresholdsOverrideProcessor, shouldApply: always,
    settings: {} },
]);

function frames(series) {
  return series.map((s) => {
    const copy = { target: s.target, title: s.target, datapoints: s.datapoints.map(([v, t]) => [v, t * 1000]) };
    return data.toDataFrame(copy);
  });
}

function colourNames(panel) {
  const names = new Set(['green', 'red', 'orange', 'yellow', 'blue', 'purple', 'text', 'transparent']);
  const defaults = (panel.fieldConfig || {}).defaults || {};
  for (const step of ((defaults.thresholds || {}).steps || [])) names.add(step.color);
  for (const mapping of (defaults.mappings || [])) {
    const options = mapping.options || {};
    const results = mapping.type === 'value' ? Object.values(options).map((o) => o) : [options.result];
    for (const result of results) if (result && result.color) names.add(result.color);
  }
  const byHex = {};
  for (const name of names) {
    const colour = theme.visualization.getColorByName(name);
    byHex[colour.toLowerCase()] = name;
    byHex[data.colorManipulator.asHexString(colour).toLowerCase()] = name;   // 'transparent' is rgba(0,0,0,0)
  }
  return byHex;
}

function shown(panel, series) {
  const fieldConfig = panel.fieldConfig || { defaults: {}, overrides: [] };
  const processed = data.applyFieldOverrides({
    data: frames(series),
    fieldConfig: { defaults: fieldConfig.defaults || {}, overrides: fieldConfig.overrides || [] },
    replaceVariables: (text) => text,
    theme,
    timeZone: 'utc',
    fieldConfigRegistry,
  });
  const values = data.getFieldDisplayValues({
    fieldConfig: { defaults: fieldConfig.defaults || {}, overrides: fieldConfig.overrides || [] },
    reduceOptions: (panel.options || {}).reduceOptions || { calcs: ['lastNotNull'] },
    replaceVariables: (text) => text,
    theme,
    data: processed,
    timeZone: 'utc',
  });
  const byHex = colourNames(panel);
  return values.map((value) => {
    const colour = (value.display.color || '').toLowerCase();
    return {
      title: value.display.title === undefined ? null : value.display.title,
      text: data.formattedValueToString(value.display),
      numeric: Number.isFinite(value.display.numeric) ? value.display.numeric : null,
      color: byHex[colour] || colour,
    };
  });
}

const readline = require('readline');
const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on('line', (line) => {
  if (!line.trim()) return;
  const request = JSON.parse(line);
  process.stdout.write(JSON.stringify(shown(request.panel, request.series)) + '\n');
});
