using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuLstm.Runtime.Compute;
using GpuLstm.Runtime.Models;
using GpuLstm.Runtime.Series;

using GpuLstm.Runtime.Files;

namespace GpuLstm.Runtime.Checkpoints;

/// <summary>
/// What a forecasting checkpoint carries besides the weights, so `forecast predict` needs nothing else: the
/// scaler, whether the model reads first differences, the column names, the seasonal baseline's season,
/// and the whole series (values, labels, and dates when the series had a date column).
/// </summary>
internal sealed record SeriesModelInfo(SeriesScaler Scaler, bool Difference, string Column, string? DateColumn, int Season,
    double[] Values, string[] Labels, DateTime[]? Dates)
{
    public int Count => Values.Length;

    /// <summary>The covariates' fitted spec (columns, kinds, scalers, categories, calendar); empty for a target-only model.</summary>
    public SeriesCovariates Covariates { get; init; } = new([], false);

    /// <summary>
    /// A many-series model's series, in the order the model knows them (its embedding's order); empty for a model
    /// of one series. The record's own scaler, values, labels and dates are then the first series'.
    /// </summary>
    public IReadOnlyList<SeriesMember> Members { get; init; } = [];

    /// <summary>The long-format CSV's series column a many-series model was trained from; null for one series.</summary>
    public string? SeriesColumn { get; init; }

    /// <summary>Whether the model reads a one-hot series identity per step (a learned series embedding).</summary>
    public bool SeriesEmbedding { get; init; }

    /// <summary>A hybrid's linear base (--ar-base) in scaled modeled units; null without one. For many series, each member's.</summary>
    public AutoRegression? Base { get; init; }

    /// <summary>Inputs the series identity adds per step.</summary>
    public int IdentityWidth => SeriesEmbedding ? Members.Count : 0;

    /// <summary>The index of the series named <paramref name="name"/> (exact, else ignoring case when that is unique), or a one-line error listing the names.</summary>
    public int IndexOf(string name)
    {
        for (int i = 0; i < Members.Count; i++)
            if (string.Equals(Members[i].Name, name, StringComparison.Ordinal)) return i;
        var folded = Enumerable.Range(0, Members.Count).Where(i => string.Equals(Members[i].Name, name, StringComparison.OrdinalIgnoreCase)).ToArray();
        if (folded.Length == 1) return folded[0];
        string known = string.Join(", ", Members.Take(20).Select(m => $"'{m.Name}'")) + (Members.Count > 20 ? $" and {Members.Count - 20} more" : "");
        throw new GpuLstmException($"the model knows no series '{name}'; it was trained on {known}");
    }

    /// <summary>Series <paramref name="index"/> as a one-series info (its scaler, values, labels, dates), with its identity for the model.</summary>
    public (SeriesModelInfo Info, SeriesIdentity Identity) Member(int index)
    {
        var m = Members[index];
        var info = this with { Scaler = m.Scaler, Values = m.Values, Labels = m.Labels, Dates = m.Dates, Base = m.Base, Members = [], SeriesColumn = null, SeriesEmbedding = false };
        return (info, SeriesEmbedding ? new SeriesIdentity(index, Members.Count) : SeriesIdentity.None);
    }
}

/// <summary>One series of a many-series model: its name, the scaler fitted on its own training part, and its history.</summary>
internal sealed record SeriesMember(string Name, SeriesScaler Scaler, double[] Values, string[] Labels, DateTime[]? Dates)
{
    /// <summary>The series' own linear base (a hybrid's AR fitted on its training part); null without one.</summary>
    public AutoRegression? Base { get; init; }
}

/// <summary>A forecasting checkpoint read from disk and validated, ready to become a model on any device.</summary>
internal sealed record LoadedSeriesCheckpoint(SeriesModelConfig Config, SeriesModelInfo Info, IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyDictionary<string, TensorEntry> Tensors, string Path)
{
    public SeriesModel CreateModel(ComputeDevice device, int maxBatch)
    {
        var model = new SeriesModel(device, Config, maxBatch);
        try
        {
            SeriesCheckpoint.CopyInto(this, model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}

/// <summary>
/// Series-model checkpoints in safetensors, named and laid out as PyTorch's nn.LSTM / nn.GRU / nn.RNN
/// (num_layers = L, bidirectional = D == 2) under the cell's name (see <see cref="StackTensors"/>:
/// {cell}.weight_ih_l{k}[_reverse] (G·H, X_k) with X_0 = F and X_k = D·H above, and so on), and nn.Linear as
/// fc.weight (K, D·H), fc.bias (K). Our layers keep the transposed (Keras) layouts, so weights are
/// transposed on the way in and out. Everything else is string metadata (see <see cref="SeriesModelInfo"/>).
/// </summary>
internal static class SeriesCheckpoint
{
    public const string FormatTag = "gpulstm-series/1";
    private const string ScalerPrefix = "scaler.";
    private const string CovariatesKey = "covariates";
    private const string SeriesKey = "series";
    private const string ArBaseKey = "ar_base";
    private const string SeriesColumnKey = "series_column";
    private const string SeriesEmbeddingKey = "series_embedding";

    private static string Inv(int n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>The tensor names and PyTorch shapes a model of <paramref name="c"/> has, in file order.</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> ExpectedTensors(SeriesModelConfig c)
    {
        var result = StackTensors.Expected(c.Stack, c.Features).ToList();
        result.Add(("fc.weight", new[] { c.HeadOutputs, c.Directions * c.Hidden }));
        result.Add(("fc.bias", new[] { c.HeadOutputs }));
        return result;
    }

    // The test scores' metadata keys, in the order a run scores them: the model, then its baselines.
    private static readonly string[] ScoreKeys = ["test", "persistence", "seasonal_naive", "ar"];

    /// <summary>
    /// The metadata key of a run's <paramref name="index"/>-th score: the model is first and persistence second;
    /// seasonal naive (only with a season) and AR(p) follow, told apart by name because either may be absent.
    /// </summary>
    private static string ScoreKey(int index, string name) => index switch
    {
        0 => "test",
        1 => "persistence",
        _ => name.StartsWith("AR(", StringComparison.Ordinal) ? "ar" : "seasonal_naive",
    };

    /// <summary>Records test scores (the model's, persistence's, seasonal naive's when there is a season, then AR(p)'s) as metadata; AR(p)'s name goes in `ar_name`.</summary>
    public static void WriteScores(IReadOnlyList<ForecastScore> scores, IDictionary<string, string> metadata)
    {
        for (int i = 0; i < scores.Count; i++)
        {
            var m = scores[i].Metrics;
            string key = ScoreKey(i, scores[i].Name);
            metadata[$"{key}_rmse"] = m.Rmse.ToString("R", CultureInfo.InvariantCulture);
            metadata[$"{key}_mae"] = m.Mae.ToString("R", CultureInfo.InvariantCulture);
            metadata[$"{key}_mape"] = m.Mape.ToString("R", CultureInfo.InvariantCulture);
            if (key == "ar") metadata["ar_name"] = scores[i].Name;
        }
    }

    /// <summary>The test scores a checkpoint's metadata records (empty when it has none); the pair counts are not kept.</summary>
    public static IReadOnlyList<ForecastScore> ReadScores(IReadOnlyDictionary<string, string> metadata, SeriesModelConfig config, SeriesModelInfo info)
    {
        string[] names = [(config.Bidirectional ? "bidirectional " : "") + config.Cell.Name.ToUpperInvariant(), "persistence", $"seasonal naive ({info.Season})",
            metadata.GetValueOrDefault("ar_name") ?? "AR"];
        var scores = new List<ForecastScore>();
        for (int i = 0; i < ScoreKeys.Length; i++)
        {
            // No model score means no scores; the baselines after persistence may each be absent.
            if (!metadata.ContainsKey($"{ScoreKeys[i]}_rmse"))
            {
                if (i < 2) break;
                continue;
            }
            double Get(string metric) =>
                metadata.TryGetValue($"{ScoreKeys[i]}_{metric}", out var v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : double.NaN;
            scores.Add(new ForecastScore(names[i], new ForecastMetrics(Get("rmse"), Get("mae"), Get("mape"), 0, 0)));
        }
        return scores;
    }

    public static void Save(string path, SeriesModel model, SeriesModelInfo info, IReadOnlyDictionary<string, string>? extraMetadata = null) =>
        AtomicFile.Write(path, "checkpoint", Serializer(model, info, extraMetadata));

    /// <summary>The checkpoint's bytes, taken from the model now and written to a stream later (see <see cref="FileTransaction"/>).</summary>
    public static Action<Stream> Serializer(SeriesModel model, SeriesModelInfo info, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(info);
        var c = model.Config;
        var p = model.Parameters;
        int h = c.Hidden, d = c.Directions, k = c.HeadOutputs;
        var tensors = new List<TensorEntry>();
        StackTensors.Add(tensors, p, model.Stack);
        tensors.Add(new("fc.weight", new[] { k, d * h }, Checkpoint.Transpose(p.GetValue(model.Head.Weights), d * h, k)));
        tensors.Add(new("fc.bias", new[] { k }, p.GetValue(model.Head.Bias)));

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = FormatTag,
            ["cell"] = c.Cell.Name,
            ["layers"] = Inv(c.Layers),
            ["hidden"] = Inv(h),
            ["window"] = Inv(c.Window),
            ["horizon"] = Inv(c.Horizon),
            ["likelihood"] = c.Head.Name,
            ["features"] = Inv(c.Features),
            ["bidirectional"] = c.Bidirectional ? "true" : "false",
            ["difference"] = info.Difference ? "true" : "false",
            ["column"] = info.Column,
            ["season"] = Inv(info.Season),
            ["values"] = "[" + string.Join(",", info.Values.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]",
            ["labels"] = JsonSerializer.Serialize(info.Labels),
        };
        if (c.Head.Likelihood == SeriesLikelihood.Quantile) metadata["quantiles"] = c.Head.QuantilesText;
        // What fc's K·M outputs mean, for a PyTorch user reading the file without GpuLstm.
        metadata["head_output"] = c.Head.Likelihood switch
        {
            SeriesLikelihood.Gaussian => "fc output (2K): K means, then K raw scales; sigma = softplus(raw) + 0.001 (scaled units); loss: Gaussian negative log-likelihood",
            SeriesLikelihood.Quantile => "fc output (Q*K): for each quantile level in 'quantiles' (ascending), its K forecasts; loss: pinball; the point forecast is the 0.5 block",
            _ => "fc output (K): the K forecast steps; loss: mean squared error",
        };
        if (info.DateColumn is not null) metadata["date_column"] = info.DateColumn;
        if (info.Base is not null)
        {
            metadata[ArBaseKey] = ArBaseJson.Write(info.Base);
            metadata["head_output"] += "; hybrid (--ar-base): fc forecasts the residual, and the forecast in scaled modeled units is fc's output plus the AR base " +
                "(metadata 'ar_base': intercept + sum_i coefficients[i-1] * scaled value i steps back, run recursively over the K steps from the same window; per series in 'series' for many series)";
        }
        if (info.Members.Count > 0)
        {
            metadata[SeriesColumnKey] = info.SeriesColumn ?? "series";
            metadata[SeriesEmbeddingKey] = info.SeriesEmbedding ? "true" : "false";
            metadata[SeriesKey] = SeriesMembersJson.Write(info.Members);
        }
        if (!info.Covariates.IsEmpty) metadata[CovariatesKey] = CovariateSpecJson.Write(info.Covariates);
        if (info.Dates is not null)
            metadata["dates"] = JsonSerializer.Serialize(info.Dates.Select(t => t.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture)).ToArray());
        foreach (var (key, value) in info.Scaler.ToDictionary(ScalerPrefix)) metadata[key] = value;
        // What a PyTorch user would otherwise read the source for: the scaler's formula and the head's input.
        metadata[ScalerPrefix + "formula"] = info.Scaler.Kind == SeriesScalerKind.MinMax
            ? "scaled = (x - a) / b, x = scaled * b + a; minmax: a = min, b = max - min of the training part (b = 1 if 0)"
            : "scaled = (x - a) / b, x = scaled * b + a; zscore: a = mean, b = population standard deviation (divide by n) of the training part (b = 1 if 0)";
        metadata["head_input"] = c.Bidirectional
            ? "h_n: the top layer's final hidden state of both directions, concat(forward h after the last step, reverse h after step 0); not output[:, -1]"
            : "h_n: the top layer's final hidden state (equal to output[:, -1] for one direction)";
        if (extraMetadata is not null)
            foreach (var (key, value) in extraMetadata) metadata.TryAdd(key, value);
        return SafeTensors.Serializer(metadata, tensors);
    }

    /// <summary>Reads and validates a checkpoint; every problem is a one-line <see cref="GpuLstmException"/>.</summary>
    public static LoadedSeriesCheckpoint Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Validate(path, () => SafeTensors.Read(path));
    }

    /// <summary>The same checks on bytes already in memory (<paramref name="path"/> only names them in messages).</summary>
    public static LoadedSeriesCheckpoint Parse(byte[] bytes, string path) => Validate(path, () => SafeTensors.Read(bytes, path));

    private static LoadedSeriesCheckpoint Validate(string path,
        Func<(IReadOnlyDictionary<string, string>, IReadOnlyDictionary<string, TensorEntry>)> read)
    {
        var reader = new CheckpointReader(path, "gpulstm forecast train", read);
        var meta = reader.Metadata;
        var tensors = reader.Tensors;
        string Bad(string what) => reader.Bad(what);
        string Get(string key) => reader.Get(key);
        int GetInt(string key, int min, int max) => reader.GetInt(key, min, max);
        bool GetBool(string key) => reader.GetBool(key);

        string format = Get("format");
        if (format != FormatTag)
            throw new GpuLstmException(Bad(format == Checkpoint.FormatTag
                ? "is a text model (gpulstm train); forecast needs a checkpoint written by gpulstm forecast train"
                : $"has format '{Truncate(format)}'; this build reads '{FormatTag}'"));
        var cell = StackTensors.Cell(reader, "series model");
        int layers = GetInt("layers", 1, 64);
        int h = GetInt("hidden", 1, 1 << 16);
        int window = GetInt("window", 1, 1 << 20);
        int horizon = GetInt("horizon", 1, 1 << 20);
        int features = meta.ContainsKey("features") ? GetInt("features", 1, 1 << 16) : 1;
        bool bidirectional = GetBool("bidirectional");
        bool difference = GetBool("difference");
        int season = GetInt("season", 0, int.MaxValue);
        string column = Get("column");
        string? dateColumn = meta.TryGetValue("date_column", out var dc) ? dc : null;
        var covariates = new SeriesCovariates([], false);
        if (meta.TryGetValue(CovariatesKey, out var covariatesText))
        {
            try { covariates = CovariateSpecJson.Read(covariatesText); }
            catch (GpuLstmException e) { throw new GpuLstmException(Bad($"has a bad covariate spec: {e.Message}")); }
        }
        IReadOnlyList<SeriesMember> members = [];
        bool embedding = false;
        string? seriesColumn = null;
        if (meta.TryGetValue(SeriesKey, out var seriesText))
        {
            try { members = SeriesMembersJson.Read(seriesText); }
            catch (GpuLstmException e) { throw new GpuLstmException(Bad($"has bad 'series' metadata: {e.Message}")); }
            embedding = GetBool(SeriesEmbeddingKey);
            seriesColumn = Get(SeriesColumnKey);
            foreach (var m in members)
                if (m.Values.Length - (difference ? 1 : 0) < window)
                    throw new GpuLstmException(Bad($"holds {m.Values.Length} values of series '{Truncate(m.Name)}', too few for its window of {window}{(difference ? " differences" : "")}"));
        }
        AutoRegression? linearBase = null;
        if (meta.TryGetValue(ArBaseKey, out var baseText))
        {
            try { linearBase = ArBaseJson.Read(baseText); }
            catch (GpuLstmException e) { throw new GpuLstmException(Bad($"has a bad 'ar_base': {e.Message}")); }
            if (linearBase.Order > window) throw new GpuLstmException(Bad($"has an AR base of order {linearBase.Order}, more than its window of {window}"));
            if (members.Any(m => m.Base is null || m.Base.Order != linearBase.Order))
                throw new GpuLstmException(Bad($"has an AR base, but not one of order {linearBase.Order} for every series"));
        }
        else if (members.Any(m => m.Base is not null)) throw new GpuLstmException(Bad("has AR bases for its series but no 'ar_base'"));
        int identity = embedding ? members.Count : 0;
        if (features != 1 + covariates.Width + identity)
            throw new GpuLstmException(Bad(identity == 0
                ? $"has {features} features per step, but its covariate spec gives the target and {covariates.Width}"
                : $"has {features} features per step, but its covariate spec and its {identity} series' identity give the target, {covariates.Width} and {identity}"));
        SeriesScaler scaler;
        try { scaler = SeriesScaler.FromDictionary(meta, ScalerPrefix); }
        catch (GpuLstmException e) { throw new GpuLstmException(Bad($"has a bad scaler: {e.Message}")); }

        double[]? values;
        try { values = JsonSerializer.Deserialize<double[]>(Get("values")); }
        catch (JsonException) { values = null; }
        if (values is null || values.Length == 0) throw new GpuLstmException(Bad("has 'values' metadata that is not a JSON array of numbers"));
        if (values.Any(v => !double.IsFinite(v))) throw new GpuLstmException(Bad("has 'values' that are not all finite"));
        int modeled = values.Length - (difference ? 1 : 0);
        if (modeled < window)
            throw new GpuLstmException(Bad($"holds {values.Length} values, too few for its window of {window}{(difference ? " differences" : "")}"));
        string[]? labels;
        try { labels = JsonSerializer.Deserialize<string[]>(Get("labels")); }
        catch (JsonException) { labels = null; }
        if (labels is null || labels.Length != values.Length || labels.Any(l => l is null))
            throw new GpuLstmException(Bad($"has 'labels' metadata that is not a JSON array of {values.Length} strings"));
        DateTime[]? dates = null;
        if (meta.TryGetValue("dates", out var datesText))
        {
            string[]? texts;
            try { texts = JsonSerializer.Deserialize<string[]>(datesText); }
            catch (JsonException) { texts = null; }
            if (texts is null || texts.Length != values.Length)
                throw new GpuLstmException(Bad($"has 'dates' metadata that is not a JSON array of {values.Length} dates"));
            dates = new DateTime[texts.Length];
            for (int i = 0; i < texts.Length; i++)
                if (texts[i] is null || !DateTime.TryParseExact(texts[i], "yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture,
                        DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out dates[i]))
                    throw new GpuLstmException(Bad($"has a 'dates' entry {i} that is not a date: '{Truncate(texts[i] ?? "null")}'"));
        }

        // Checkpoints from before the probabilistic heads have no 'likelihood': a point forecast.
        SeriesHead head;
        try
        {
            var likelihood = meta.TryGetValue("likelihood", out var likelihoodName) ? SeriesHead.ParseName(likelihoodName) : SeriesLikelihood.Point;
            double[]? levels = null;
            if (likelihood == SeriesLikelihood.Quantile)
                levels = Get("quantiles").Split(',').Select(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double q) ? q
                    : throw new GpuLstmException($"quantile level '{Truncate(t)}' is not a number")).ToArray();
            head = SeriesHead.For(likelihood, levels);
        }
        catch (GpuLstmException e) { throw new GpuLstmException(Bad($"has a bad head: {e.Message}")); }
        var config = new SeriesModelConfig(h, window, horizon, features, layers, bidirectional) { Cell = cell, Head = head };
        try { config.Validate(); }
        catch (GpuLstmException e) { throw new GpuLstmException(Bad($"describes an invalid model: {e.Message}")); }
        reader.RequireTensors(ExpectedTensors(config), $"for H={h}, K={horizon}{(bidirectional ? ", bidirectional" : "")}");
        var info = new SeriesModelInfo(scaler, difference, column, dateColumn, season, values, labels, dates)
        {
            Covariates = covariates, Members = members, SeriesEmbedding = embedding, SeriesColumn = seriesColumn, Base = linearBase,
        };
        return new LoadedSeriesCheckpoint(config, info, meta, tensors, path);
    }

    internal static void CopyInto(LoadedSeriesCheckpoint checkpoint, SeriesModel model)
    {
        var c = checkpoint.Config;
        if (model.Config != c) throw new ArgumentException("model shape differs from the checkpoint's");
        int h = c.Hidden, d = c.Directions, k = c.HeadOutputs;
        var p = model.Parameters;
        var t = checkpoint.Tensors;
        StackTensors.CopyInto(t, p, model.Stack);
        p.SetValue(model.Head.Weights, Checkpoint.Transpose(t["fc.weight"].Data, k, d * h));
        p.SetValue(model.Head.Bias, t["fc.bias"].Data);
        model.Kernels.Synchronize();
    }

    private static string Truncate(string s) => CheckpointReader.Truncate(s);
}

/// <summary>
/// The covariate spec as checkpoint metadata (JSON): {"calendar": bool, "columns": [{"name", "kind": "numeric" |
/// "categorical", "scaler": {kind, a, b} for numeric, "categories": [...] for categorical (one-hot order),
/// "future": true for a future covariate (absent otherwise)}]}, past columns first.
/// </summary>
internal static class CovariateSpecJson
{
    // "future": true marks a --future-covariates column; absent (false) in every checkpoint without them.
    private sealed record ColumnDto(string Name, string Kind, Dictionary<string, string>? Scaler, string[]? Categories,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)] bool Future = false);
    private sealed record SpecDto(bool Calendar, ColumnDto[] Columns);

    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static string Write(SeriesCovariates covariates) => JsonSerializer.Serialize(new SpecDto(covariates.Calendar,
        covariates.Columns.Select(c => c.Kind == CovariateKind.Numeric
            ? new ColumnDto(c.Name, "numeric", c.Scaler!.ToDictionary(), null, c.Future)
            : new ColumnDto(c.Name, "categorical", null, c.Categories.ToArray(), c.Future)).ToArray()), Options);

    public static SeriesCovariates Read(string json)
    {
        SpecDto? dto;
        try { dto = JsonSerializer.Deserialize<SpecDto>(json, Options); }
        catch (JsonException) { dto = null; }
        if (dto?.Columns is null) throw new GpuLstmException("it is not a JSON object with 'calendar' and 'columns'");
        var columns = new List<CovariateSpec>();
        foreach (var c in dto.Columns)
        {
            if (c is null || string.IsNullOrEmpty(c.Name)) throw new GpuLstmException("a column has no name");
            if (c.Kind == "numeric" && c.Scaler is not null)
                columns.Add(new CovariateSpec(c.Name, CovariateKind.Numeric, SeriesScaler.FromDictionary(c.Scaler), []) { Future = c.Future });
            else if (c.Kind == "categorical" && c.Categories is { Length: > 0 } categories && categories.All(x => x is not null))
                columns.Add(new CovariateSpec(c.Name, CovariateKind.Categorical, null, categories) { Future = c.Future });
            else throw new GpuLstmException($"column '{CheckpointReader.Truncate(c.Name)}' is neither numeric with a scaler nor categorical with categories");
        }
        return new SeriesCovariates(columns, dto.Calendar);
    }
}

/// <summary>
/// A many-series model's series as checkpoint metadata (JSON): [{"name", "scaler": {kind, a, b}, "values": [...],
/// "labels": [...], "dates": [ISO 8601 UTC...] or absent}], in the model's series order.
/// </summary>
internal static class SeriesMembersJson
{
    private sealed record MemberDto(string Name, Dictionary<string, string> Scaler, double[] Values, string[] Labels, string[]? Dates, ArBaseJson.Dto? Base = null);

    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
    private const string DateFormat = "yyyy-MM-ddTHH:mm:ss.fffffffZ";

    public static string Write(IReadOnlyList<SeriesMember> members) => JsonSerializer.Serialize(members.Select(m => new MemberDto(m.Name, m.Scaler.ToDictionary(),
        m.Values, m.Labels, m.Dates?.Select(d => d.ToString(DateFormat, CultureInfo.InvariantCulture)).ToArray(), m.Base is null ? null : ArBaseJson.ToDto(m.Base))).ToArray(), Options);

    public static IReadOnlyList<SeriesMember> Read(string json)
    {
        MemberDto[]? dtos;
        try { dtos = JsonSerializer.Deserialize<MemberDto[]>(json, Options); }
        catch (JsonException) { dtos = null; }
        if (dtos is null || dtos.Length == 0) throw new GpuLstmException("it is not a non-empty JSON array of series");
        var result = new List<SeriesMember>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in dtos)
        {
            if (d is null || string.IsNullOrEmpty(d.Name)) throw new GpuLstmException("a series has no name");
            string name = CheckpointReader.Truncate(d.Name);
            if (!names.Add(d.Name)) throw new GpuLstmException($"series '{name}' appears twice");
            if (d.Values is not { Length: > 0 } || d.Values.Any(v => !double.IsFinite(v))) throw new GpuLstmException($"series '{name}' has no values, or values that are not all finite");
            if (d.Labels is null || d.Labels.Length != d.Values.Length || d.Labels.Any(l => l is null)) throw new GpuLstmException($"series '{name}' does not have one label per value");
            if (d.Scaler is null) throw new GpuLstmException($"series '{name}' has no scaler");
            var scaler = SeriesScaler.FromDictionary(d.Scaler);
            DateTime[]? dates = null;
            if (d.Dates is not null)
            {
                if (d.Dates.Length != d.Values.Length) throw new GpuLstmException($"series '{name}' does not have one date per value");
                dates = new DateTime[d.Dates.Length];
                for (int i = 0; i < dates.Length; i++)
                    if (d.Dates[i] is null || !DateTime.TryParseExact(d.Dates[i], DateFormat, CultureInfo.InvariantCulture,
                            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out dates[i]))
                        throw new GpuLstmException($"series '{name}' has a date {i} that is not a date");
            }
            AutoRegression? linearBase;
            try { linearBase = d.Base is null ? null : ArBaseJson.FromDto(d.Base); }
            catch (GpuLstmException e) { throw new GpuLstmException($"series '{name}' has a bad AR base: {e.Message}"); }
            result.Add(new SeriesMember(d.Name, scaler, d.Values, d.Labels, dates) { Base = linearBase });
        }
        return result;
    }
}

/// <summary>A hybrid's AR base as checkpoint metadata (JSON): {"intercept": c, "coefficients": [a_1, …, a_p]}, in scaled modeled units.</summary>
internal static class ArBaseJson
{
    internal sealed record Dto(double Intercept, double[] Coefficients);

    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Dto ToDto(AutoRegression ar) => new(ar.Intercept, ar.Coefficients);

    public static AutoRegression FromDto(Dto dto) =>
        dto.Coefficients is { Length: > 0 } ? new AutoRegression(dto.Intercept, dto.Coefficients) : throw new GpuLstmException("it has no coefficients");

    public static string Write(AutoRegression ar) => JsonSerializer.Serialize(ToDto(ar), Options);

    public static AutoRegression Read(string json)
    {
        Dto? dto;
        try { dto = JsonSerializer.Deserialize<Dto>(json, Options); }
        catch (JsonException) { dto = null; }
        return FromDto(dto ?? throw new GpuLstmException("it is not a JSON object with 'intercept' and 'coefficients'"));
    }
}
