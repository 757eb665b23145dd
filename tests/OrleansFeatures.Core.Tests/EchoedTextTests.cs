namespace OrleansFeatures.Core.Tests;

public class EchoedTextTests
{
    [Fact]
    public void Short_text_is_echoed_unchanged()
    {
        Assert.Equal("user", EchoedText.Shorten("user"));
        Assert.Equal("", EchoedText.Shorten(null));
    }

    [Fact]
    public void Long_text_is_cut_with_an_ellipsis_and_its_original_length()
    {
        var shown = EchoedText.Shorten(new string('x', 100_000));

        Assert.Equal(new string('x', 128) + "… (100000 characters)", shown);
    }

    [Fact]
    public void A_cut_never_splits_a_surrogate_pair()
    {
        var text = new string('a', 127) + "😀" + new string('b', 10);

        var shown = EchoedText.Shorten(text);

        Assert.StartsWith(new string('a', 127) + "…", shown, StringComparison.Ordinal);
        Assert.DoesNotContain("\ud83d", shown, StringComparison.Ordinal);
    }
}
