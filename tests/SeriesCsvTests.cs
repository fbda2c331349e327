using System.Globalization;
using System.Text;
using GpuLstm.Runtime;
using GpuLstm.Runtime.Series;
using Xunit;

namespace GpuLstm.Tests;

/// <summary>A CSV written to a fresh temporary file and deleted afterwards.</summary>
internal sealed class SeriesTempCsv : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"gpulstm-series-{Guid.NewGuid():N}.csv");

    public SeriesTempCsv(string text, bool bom = false) => File.WriteAllText(Path, text, new UTF8Encoding(bom));

    public SeriesTempCsv(byte[] bytes) => File.WriteAllBytes(Path, bytes);

    public void Dispose() => File.Delete(Path);
}

public sealed class SeriesCsvTests
{
    private static GpuLstmException Fails(string text, string column = "Value", string? dateColumn = null)
    {
        using var csv = new SeriesTempCsv(text);
        var e = Assert.Throws<GpuLstmException>(() => SeriesCsv.Load(csv.Path, column, dateColumn));
        Assert.Contains(csv.Path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void ReadsQuotingCrlfBomWhitespaceAndBlankTrailingLines()
    {
        string text = "\"Month\" , \"Pass\"\"engers\", Note\r\n" +
                      " 1949-01 , 112 ,plain\r\n" +
                      "\"1949-02\",\" 118 \",\"a, b and \"\"c\"\"\"\r\n" +
                      "1949-03,  -1.5e2 ,\"two\r\nlines\"\r\n" +
                      "\r\n   \r\n\r\n";
        using var csv = new SeriesTempCsv(text, bom: true);
        var data = SeriesCsv.Load(csv.Path, "Pass\"engers", "Month");
        Assert.Equal(new[] { 112.0, 118.0, -150.0 }, data.Values);
        Assert.Equal(new[] { "1949-01", "1949-02", "1949-03" }, data.Labels);
        Assert.Equal("Pass\"engers", data.Column);
        Assert.Equal("Month", data.DateColumn);
        Assert.Equal(new DateTime(1949, 3, 1, 0, 0, 0, DateTimeKind.Utc), data.Dates![2]);
    }

    [Fact]
    public void WithoutADateColumnKeepsFileOrderAndLabelsRowsFromOne()
    {
        using var csv = new SeriesTempCsv("a,value\nx,3\ny,1\nz,2");   // no final newline
        var data = SeriesCsv.Load(csv.Path, "VALUE");                  // a unique case-insensitive match
        Assert.Equal(new[] { 3.0, 1.0, 2.0 }, data.Values);
        Assert.Equal(new[] { "1", "2", "3" }, data.Labels);
        Assert.Null(data.Dates);
        Assert.Null(data.DateColumn);
    }

    [Fact]
    public void ShuffledRowsComeBackSortedByDate()
    {
        using var csv = new SeriesTempCsv(
            "Date,Value\n1950-03-01,3\n1949,0\n1950-01-15 12:30,2\n1950-01-15T06:00:00Z,1\n1951-02,5\n1950-12-31T23:59:59.5,4\n");
        var data = SeriesCsv.Load(csv.Path, "Value", "Date");
        Assert.Equal(new[] { 0.0, 1, 2, 3, 4, 5 }, data.Values);
        Assert.Equal(new[] { "1949", "1950-01-15T06:00:00Z", "1950-01-15 12:30", "1950-03-01", "1950-12-31T23:59:59.5", "1951-02" }, data.Labels);
        var dates = data.Dates!;
        Assert.True(dates.Zip(dates.Skip(1)).All(p => p.First < p.Second));
    }

    [Fact]
    public void TimeZonesAreComparedAsInstants()
    {
        using var csv = new SeriesTempCsv("Date,Value\n2000-01-01T10:00:00+02:00,2\n2000-01-01T09:00:00Z,1\n");
        Assert.Equal(new[] { 2.0, 1.0 }, SeriesCsv.Load(csv.Path, "Value", "Date").Values);   // 08:00Z before 09:00Z
    }

    [Fact]
    public void NumbersAreInvariantWhateverTheCurrentCulture()
    {
        var saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = new CultureInfo("de-DE");
            using var csv = new SeriesTempCsv("Value\n1.5\n2500.25\n");
            Assert.Equal(new[] { 1.5, 2500.25 }, SeriesCsv.Load(csv.Path, "Value").Values);
        }
        finally { CultureInfo.CurrentCulture = saved; }
    }

    [Fact]
    public void MissingFileAndDirectoryAreNamed()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"gpulstm-series-missing-{Guid.NewGuid():N}.csv");
        var e = Assert.Throws<GpuLstmException>(() => SeriesCsv.Load(missing, "Value"));
        Assert.Equal($"series file '{missing}' not found", e.Message);
        var dir = Directory.CreateTempSubdirectory("gpulstm-series-");
        try
        {
            e = Assert.Throws<GpuLstmException>(() => SeriesCsv.Load(dir.FullName, "Value"));
            Assert.Equal($"series file '{dir.FullName}' is a directory", e.Message);
        }
        finally { dir.Delete(); }
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\r\n  \n")]
    public void EmptyFileIsAnError(string text) => Assert.EndsWith("is empty", Fails(text).Message);

    [Fact]
    public void EmptyFileWithOnlyABomIsAnError()
    {
        using var csv = new SeriesTempCsv(new byte[] { 0xEF, 0xBB, 0xBF });
        Assert.EndsWith("is empty", Assert.Throws<GpuLstmException>(() => SeriesCsv.Load(csv.Path, "Value")).Message);
    }

    [Fact]
    public void HeaderOnlyIsAnError() =>
        Assert.EndsWith("has a header (line 1) but no data rows", Fails("Date,Value\r\n\r\n").Message);

    [Fact]
    public void MissingColumnListsTheColumnsThatExist()
    {
        var e = Fails("\"Month\",\"Passengers\"\n1949-01,112\n", column: "Temp");
        Assert.EndsWith("has no value column 'Temp'; the header (line 1) has: 'Month', 'Passengers'", e.Message);
        e = Fails("Month,Passengers\n1949-01,112\n", column: "Passengers", dateColumn: "Date");
        Assert.Contains("no date column 'Date'", e.Message);
    }

    [Fact]
    public void NonNumericCellIsQuotedWithItsLineAndColumn()
    {
        var e = Fails("Date,Value\n2000-01-01,1\n2000-01-02,\"?0.2\"\n");
        Assert.EndsWith("line 3, column 'Value' (column 2): \"?0.2\" is not a number", e.Message);
        e = Fails("Date,Value\n2000-01-01,1,\n");   // a trailing comma is an extra cell
        Assert.Contains("line 2 has 3 cells but the header (line 1) has 2", e.Message);
        e = Fails("Date,Value\n2000-01-01,1\n2000-01-02, \n");
        Assert.EndsWith("line 3, column 'Value' (column 2): the cell is empty; expected a number", e.Message);
        e = Fails("Date,Value\n2000-01-01,\"1,5\"\n");
        Assert.EndsWith("line 2, column 'Value' (column 2): \"1,5\" is not a number", e.Message);
    }

    [Fact]
    public void LongCellsAreTruncatedAndLineBreaksShown()
    {
        var e = Fails("Value\n\"" + new string('x', 100) + "\"\n");
        Assert.EndsWith("line 2, column 'Value' (column 1): \"" + new string('x', 40) + "…\" is not a number", e.Message);
        e = Fails("Value\n\"1\n2\"\n");
        Assert.EndsWith("line 2, column 'Value' (column 1): \"1\\n2\" is not a number", e.Message);
    }

    [Fact]
    public void LinesAreCountedThroughQuotedLineBreaks()
    {
        // The note on line 2 spans lines 2–4, so the bad value sits on line 5.
        var e = Fails("Note,Value\n\"a\r\nb\nc\",1\nok,x\n");
        Assert.EndsWith("line 5, column 'Value' (column 2): \"x\" is not a number", e.Message);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("1e999")]
    public void NonFiniteValuesAreErrors(string cell)
    {
        var e = Fails($"Date,Value\n2000-01-01,1\n2000-01-02,2\n2000-01-03,{cell}\n");
        Assert.EndsWith($"line 4, column 'Value' (column 2): \"{cell}\" is not a finite number", e.Message);
    }

    [Theory]
    [InlineData("1949-13")]
    [InlineData("01/02/1949")]
    [InlineData("yesterday")]
    [InlineData("1949-02-30")]
    [InlineData("")]
    public void UnparseableDateNamesLineAndColumn(string cell)
    {
        var e = Fails($"Value,Date\n1,1949-01\n2,\"{cell}\"\n", dateColumn: "Date");
        Assert.Contains($"line 3, column 'Date' (column 2): \"{cell}\" is not a date", e.Message);
    }

    [Fact]
    public void RowWithFewerCellsNamesTheMissingColumn()
    {
        var e = Fails("Date,Value\n2000-01-01,1\n2000-01-02\n");
        Assert.EndsWith("line 3 has 1 cell but the header (line 1) has 2; column 'Value' (column 2) is missing", e.Message);
    }

    [Fact]
    public void TrailingFooterIsAClearError()
    {
        var e = Fails("Date,Value\n2000-01-01,1\n\nDaily minimum temperatures in Melbourne\n");
        Assert.Contains("line 4 has 1 cell but the header (line 1) has 2", e.Message);
    }

    [Fact]
    public void DuplicateDatesNameBothRows()
    {
        var e = Fails("Date,Value\n2000-03,1\n2000-01,2\n2000-02,3\n2000-03-01,4\n", dateColumn: "Date");
        Assert.EndsWith("lines 2 and 5 have the same date in column 'Date' (column 1): \"2000-03\" and \"2000-03-01\"", e.Message);
    }

    [Fact]
    public void BadQuotingIsNamed()
    {
        var e = Fails("Date,Value\n2000-01-01,\"1\n2000-01-02,2\n");
        Assert.EndsWith("line 2, column 2: a quoted cell is never closed", e.Message);
        e = Fails("Date,Value\n\"2000-01-01\"x,1\n");
        Assert.EndsWith("line 2, column 1: unexpected text after the closing quote of a cell", e.Message);
    }

    [Fact]
    public void SameColumnForValueAndDateIsAnError()
    {
        var e = Fails("Date,Value\n2000,1\n", column: "Value", dateColumn: "value");
        Assert.Contains("the value column and the date column are both 'Value'", e.Message);
    }
}
