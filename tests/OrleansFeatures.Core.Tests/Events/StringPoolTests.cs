using System.Text;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Tests.Events;

public class StringPoolTests
{
    [Fact]
    public void The_same_text_gives_the_same_string()
    {
        var pool = new StringPool(8);

        var first = pool.Get("user-1".AsSpan());
        var again = pool.Get("user-1".ToCharArray());
        var fromUtf8 = pool.GetUtf8("user-1"u8);

        Assert.Equal("user-1", first);
        Assert.Same(first, again);
        Assert.Same(first, fromUtf8);
        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void A_full_pool_still_answers_but_keeps_no_more()
    {
        var pool = new StringPool(2);
        var a = pool.Get("a".AsSpan());
        pool.Get("b".AsSpan());

        var c = pool.Get("c".AsSpan());

        Assert.Equal("c", c);
        Assert.NotSame(c, pool.Get("c".AsSpan()));
        Assert.Same(a, pool.Get("a".AsSpan()));
        Assert.Equal(2, pool.Count);
    }

    [Fact]
    public void Long_text_is_never_pooled()
    {
        var pool = new StringPool(8);
        var text = new string('x', StringPool.MaxPooledLength + 1);

        Assert.Equal(text, pool.Get(text.AsSpan()));
        Assert.Equal(text, pool.GetUtf8(Encoding.UTF8.GetBytes(text)));
        Assert.Equal(0, pool.Count);
    }

    [Theory]
    [InlineData(new byte[] { 0x75, 0xC3, 0xA9 })]
    [InlineData(new byte[] { 0x75, 0xFF, 0x41 })]
    [InlineData(new byte[] { 0xE2, 0x82 })]
    public void Bytes_decode_as_utf8_decodes_them_invalid_sequences_included(byte[] bytes)
    {
        Assert.Equal(Encoding.UTF8.GetString(bytes), new StringPool(8).GetUtf8(bytes));
    }
}
