using OrleansFeatures.Core.Definitions;
using OrleansFeatures.V1;

namespace OrleansFeatures.Cli.Tests;

public class ProtoTextTests
{
    [Fact]
    public void Every_aggregation_prints_as_the_word_definition_files_use()
    {
        foreach (var aggregation in Enum.GetValues<Aggregation>().Where(a => a != Aggregation.Unspecified))
        {
            var word = ProtoText.Of(aggregation);

            Assert.True(AggregationNames.Parse(word) is not null, $"{aggregation} prints as '{word}', which definition files do not know");
        }

        Assert.Equal("count_distinct", ProtoText.Of(Aggregation.CountDistinct));
    }
}
