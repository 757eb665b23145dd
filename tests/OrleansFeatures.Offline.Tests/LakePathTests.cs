using OrleansFeatures.Offline.Lake;

namespace OrleansFeatures.Offline.Tests;

public sealed class LakePathTests
{
    [Theory]
    [InlineData("https://acct.blob.core.windows.net/capture/ns/hub/", "https://acct.blob.core.windows.net/", "capture", "ns/hub/")]
    [InlineData("https://acct.dfs.core.windows.net/capture/ns/hub", "https://acct.blob.core.windows.net/", "capture", "ns/hub")]
    [InlineData("abfss://capture@acct.dfs.core.windows.net/ns/hub/0/x.avro", "https://acct.blob.core.windows.net/", "capture", "ns/hub/0/x.avro")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/capture/ns", "http://127.0.0.1:10000/devstoreaccount1", "capture", "ns")]
    public void Blob_data_lake_and_emulator_uris_name_an_account_endpoint_a_container_and_a_path(string uri, string service, string container, string path)
    {
        var lake = LakePath.TryParse(uri)!;
        Assert.Equal(new Uri(service), lake.ServiceUri);
        Assert.Equal(container, lake.Container);
        Assert.Equal(path, lake.Path);
    }

    [Theory]
    [InlineData("/data/events.parquet")]
    [InlineData("events")]
    [InlineData("file:///data/events.parquet")]
    public void A_local_path_is_not_a_lake_path(string path) => Assert.Null(LakePath.TryParse(path));

    [Fact]
    public void A_glob_lists_from_the_prefix_before_its_first_wildcard_and_matches_within_or_across_segments()
    {
        var lake = LakePath.TryParse("https://acct.blob.core.windows.net/c/ns/hub/*/2026/**/*.avro")!;
        Assert.Equal("ns/hub/", lake.Prefix);
        Assert.True(lake.Matches("ns/hub/0/2026/12/07/19/00/00.avro"));
        Assert.True(lake.Matches("ns/hub/13/2026/x.avro"));
        Assert.False(lake.Matches("ns/hub/0/2025/12/07/19/00/00.avro"));
        Assert.False(lake.Matches("ns/hub/0/2026/12/07/19/00/00.json"));
        Assert.False(lake.Matches("ns/hub/2026/x.avro"));
        Assert.Equal("0/2026/12/x.avro", lake.Relative("ns/hub/0/2026/12/x.avro"));
    }

    [Fact]
    public void A_folder_path_matches_the_blobs_below_it_and_not_its_namesakes()
    {
        var lake = LakePath.TryParse("https://acct.blob.core.windows.net/c/labels")!;
        Assert.True(lake.Matches("labels/a.parquet"));
        Assert.True(lake.Matches("labels"));
        Assert.False(lake.Matches("labels-old/a.parquet"));
        Assert.Equal("a.parquet", lake.Relative("labels/a.parquet"));
        Assert.Equal("labels", lake.Relative("labels"));
        Assert.Equal("out/_manifest.json", LakePath.TryParse("https://acct.blob.core.windows.net/c/out/")!.Child("_manifest.json").Path);
        Assert.Equal("out/_manifest.json", LakePath.TryParse("https://acct.blob.core.windows.net/c/out")!.Child("_manifest.json").Path);
    }
}
