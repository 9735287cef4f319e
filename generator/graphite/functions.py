"""The render functions graphite-web 1.1.10 knows (its `SeriesFunctions` table).

Used by `queuedash validate` to catch a misspelt function before Grafana shows
an empty panel. Copied from graphite-web 1.1.10 `webapp/graphite/render/functions.py`;
tests/test_check.py holds it equal to what a real graphite-web serves at /functions.
"""

KNOWN_FUNCTIONS = frozenset((
    'absolute', 'add', 'aggregate', 'aggregateLine', 'aggregateSeriesLists',
    'aggregateWithWildcards', 'alias', 'aliasByMetric', 'aliasByNode', 'aliasByTags', 'aliasQuery',
    'aliasSub', 'alpha', 'applyByNode', 'areaBetween', 'asPercent', 'averageAbove', 'averageBelow',
    'averageOutsidePercentile', 'averageSeries', 'averageSeriesWithWildcards', 'avg', 'cactiStyle',
    'changed', 'color', 'compressPeriodicGaps', 'consolidateBy', 'constantLine', 'countSeries',
    'cumulative', 'currentAbove', 'currentBelow', 'dashed', 'delay', 'derivative', 'diffSeries',
    'diffSeriesLists', 'divideSeries', 'divideSeriesLists', 'drawAsInfinite', 'events', 'exclude',
    'exp', 'exponentialMovingAverage', 'fallbackSeries', 'filterSeries', 'grep', 'group',
    'groupByNode', 'groupByNodes', 'groupByTags', 'highest', 'highestAverage', 'highestCurrent', 'highestMax',
    'hitcount', 'holtWintersAberration', 'holtWintersConfidenceArea', 'holtWintersConfidenceBands',
    'holtWintersForecast', 'identity', 'integral', 'integralByInterval', 'interpolate', 'invert', 'isNonNull',
    'keepLastValue', 'legendValue', 'limit', 'lineWidth', 'linearRegression', 'log', 'logit',
    'lower', 'lowest', 'lowestAverage', 'lowestCurrent', 'map', 'mapSeries', 'maxSeries',
    'maximumAbove', 'maximumBelow', 'minMax', 'minSeries', 'minimumAbove', 'minimumBelow',
    'mostDeviant', 'movingAverage', 'movingMax', 'movingMedian', 'movingMin', 'movingSum',
    'movingWindow', 'multiplySeries', 'multiplySeriesLists', 'multiplySeriesWithWildcards',
    'nPercentile', 'nonNegativeDerivative', 'offset', 'offsetToZero', 'pct', 'perSecond',
    'percentileOfSeries', 'pow', 'powSeries', 'randomWalk', 'randomWalkFunction', 'rangeOfSeries', 'reduce', 'reduceSeries',
    'removeAbovePercentile', 'removeAboveValue', 'removeBelowPercentile', 'removeBelowValue',
    'removeBetweenPercentile', 'removeEmptySeries', 'round', 'scale', 'scaleToSeconds',
    'secondYAxis', 'seriesByTag', 'setXFilesFactor', 'sigmoid', 'sin', 'sinFunction', 'smartSummarize', 'sortBy',
    'sortByMaxima', 'sortByMinima', 'sortByName', 'sortByTotal', 'squareRoot', 'stacked',
    'stddevSeries', 'stdev', 'substr', 'sum', 'sumSeries', 'sumSeriesLists',
    'sumSeriesWithWildcards', 'summarize', 'threshold', 'time', 'timeFunction', 'timeShift',
    'timeSlice', 'timeStack', 'transformNull', 'unique', 'upper', 'useSeriesAbove',
    'verticalLine', 'weightedAverage', 'xFilesFactor',
))
